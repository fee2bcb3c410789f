/* The AppImage runtime of Arcus Desktop's AppImages (installer/linux/appimage.sh), written
 * for this project because no package registry it can use ships AppImage's own runtime.
 *
 * The file is this static ELF program with a SquashFS image of the AppDir appended, and
 * "AI\2" at offset 8 (the AppImage type-2 magic), so AppImage tools recognise it. Instead
 * of mounting the image with FUSE (which needs libfuse and /dev/fuse on the laptop), it
 * extracts it once into ~/.cache/arcus-appimage/<image id>/ with squashfuse's library,
 * linked in statically, and runs AppRun from there: later starts only check a marker.
 * The image id comes from the SquashFS superblock (creation time, size), so a new
 * AppImage never runs an older extraction.
 *
 *   --appimage-offset    print where the SquashFS image starts
 *   --appimage-extract   extract it into ./squashfs-root and exit
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <squashfuse/squashfuse.h>

#define CHUNK (1 << 20)

static int fail(const char *what, const char *detail) {
    fprintf(stderr, "AppImage: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    return 1;
}

/* The end of the ELF program: the later of the section header table's end and the last
 * segment's end in the file. */
static off_t elf_end(const char *path) {
    Elf64_Ehdr eh;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh) return -1;
    off_t end = (off_t)(eh.e_shoff + (uint64_t)eh.e_shnum * eh.e_shentsize);
    for (int i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * eh.e_phentsize))
            != (ssize_t)sizeof ph) { close(fd); return -1; }
        if ((off_t)(ph.p_offset + ph.p_filesz) > end) end = (off_t)(ph.p_offset + ph.p_filesz);
    }
    close(fd);
    return end;
}

static int write_file(sqfs *fs, sqfs_inode *inode, const char *path, char *buf) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, inode->base.mode & 07777);
    if (fd < 0) return fail("cannot write", path);
    uint64_t size = inode->xtra.reg.file_size;
    for (uint64_t at = 0; at < size;) {
        sqfs_off_t n = (sqfs_off_t)(size - at < CHUNK ? size - at : CHUNK);
        if (sqfs_read_range(fs, inode, (sqfs_off_t)at, &n, buf) != SQFS_OK || n <= 0) {
            close(fd);
            return fail("cannot read from the image", path);
        }
        for (sqfs_off_t done = 0; done < n;) {
            ssize_t w = write(fd, buf + done, (size_t)(n - done));
            if (w < 0) { close(fd); return fail("cannot write (disk full?)", path); }
            done += w;
        }
        at += (uint64_t)n;
    }
    return close(fd) ? fail("cannot write", path) : 0;
}

static int extract(const char *image, off_t offset, const char *dest) {
    sqfs fs;
    if (sqfs_open_image(&fs, image, (size_t)offset) != SQFS_OK)
        return fail("not a readable AppImage", image);
    if (mkdir(dest, 0755) && errno != EEXIST) return fail("cannot create", dest);
    sqfs_traverse trv;
    if (sqfs_traverse_open(&trv, &fs, sqfs_inode_root(&fs)) != SQFS_OK)
        return fail("cannot list the image", image);
    char *buf = malloc(CHUNK), path[PATH_MAX], target[PATH_MAX];
    int rc = buf ? 0 : fail("out of memory", NULL);
    sqfs_err err = SQFS_OK;
    while (rc == 0 && sqfs_traverse_next(&trv, &err)) {
        if (trv.dir_end) continue;
        if (snprintf(path, sizeof path, "%s/%s", dest, trv.path) >= (int)sizeof path) {
            rc = fail("path too long", trv.path);
            break;
        }
        sqfs_inode inode;
        if (sqfs_inode_get(&fs, &inode, trv.entry.inode) != SQFS_OK) {
            rc = fail("cannot read an entry", trv.path);
            break;
        }
        switch (inode.base.inode_type) {
        case SQUASHFS_DIR_TYPE: case SQUASHFS_LDIR_TYPE:
            if (mkdir(path, (inode.base.mode & 07777) | 0700) && errno != EEXIST)
                rc = fail("cannot create", path);
            break;
        case SQUASHFS_REG_TYPE: case SQUASHFS_LREG_TYPE:
            rc = write_file(&fs, &inode, path, buf);
            break;
        case SQUASHFS_SYMLINK_TYPE: case SQUASHFS_LSYMLINK_TYPE: {
            size_t size = sizeof target;
            if (sqfs_readlink(&fs, &inode, target, &size) != SQFS_OK || symlink(target, path))
                rc = fail("cannot make the link", path);
            break;
        }
        default:  /* devices, fifos, sockets: an AppDir has none */
            break;
        }
    }
    if (rc == 0 && err != SQFS_OK) rc = fail("the image is damaged", image);
    sqfs_traverse_close(&trv);
    sqfs_destroy(&fs);
    free(buf);
    return rc;
}

static int remove_tree(const char *dir) {
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/rm", "rm", "-rf", "--", dir, (char *)NULL);
        _exit(127);
    }
    return pid > 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return fail("cannot find this AppImage's own file", NULL);
    self[len] = 0;
    off_t offset = elf_end(self);
    if (offset <= 0) return fail("cannot read this AppImage's header", self);
    if (argc > 1 && !strcmp(argv[1], "--appimage-offset")) {
        printf("%lld\n", (long long)offset);
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "--appimage-extract"))
        return extract(self, offset, "squashfs-root");

    /* The image's id: its superblock's creation time and size. */
    struct squashfs_super_block sb;
    int fd = open(self, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || pread(fd, &sb, sizeof sb, offset) != (ssize_t)sizeof sb
        || sb.s_magic != SQUASHFS_MAGIC)
        return fail("no SquashFS image after the runtime", self);
    close(fd);
    const char *cache = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char base[PATH_MAX], dir[PATH_MAX], done[PATH_MAX], tmp[PATH_MAX], app_run[PATH_MAX];
    if (cache && *cache) snprintf(base, sizeof base, "%s/arcus-appimage", cache);
    else if (home && *home) snprintf(base, sizeof base, "%s/.cache/arcus-appimage", home);
    else return fail("neither XDG_CACHE_HOME nor HOME is set", NULL);
    const char *name = strrchr(self, '/') ? strrchr(self, '/') + 1 : self;
    snprintf(dir, sizeof dir, "%s/%.64s-%x-%llx", base, name, sb.mkfs_time,
             (unsigned long long)sb.bytes_used);
    snprintf(done, sizeof done, "%s/.extracted", dir);
    if (access(done, F_OK)) {
        char parent[PATH_MAX];
        snprintf(parent, sizeof parent, "%s", base);
        for (char *p = parent + 1; *p; p++)
            if (*p == '/') { *p = 0; mkdir(parent, 0700); *p = '/'; }
        mkdir(parent, 0700);
        snprintf(tmp, sizeof tmp, "%s.part-%d", dir, (int)getpid());
        fprintf(stderr, "AppImage: unpacking into %s (once)\n", dir);
        if (extract(self, offset, tmp)) { remove_tree(tmp); return 1; }
        int marker = open(strcat(strcpy(app_run, tmp), "/.extracted"),
                          O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (marker < 0) return fail("cannot write", app_run);
        close(marker);
        if (rename(tmp, dir)) remove_tree(tmp);  /* another start got there first */
    }
    snprintf(app_run, sizeof app_run, "%s/AppRun", dir);
    setenv("APPIMAGE", self, 1);
    setenv("APPDIR", dir, 1);
    setenv("ARGV0", argv[0], 1);
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd)) setenv("OWD", cwd, 1);
    execv(app_run, argv);
    return fail("cannot start", app_run);
}

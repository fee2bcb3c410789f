"""The Triton kernels behind rvq_lean.py (Mimi's quantizer). Defined only where Triton is
installed: the bundled app leaves it out, and every module must still import there."""

try:
    import triton
    import triton.language as tl
except ImportError:
    triton = None

if triton is not None:
    @triton.jit
    def rvq_nearest(proj_ptr, emb_ptr, keys_ptr, code, key_base, emb_base, n_codes, entries,
                    proj_stride, col0, D: tl.constexpr, BLOCK_E: tl.constexpr):
        # One codebook of a residual quantizer, for one row and BLOCK_E of its entries.
        # The residual is made as moshi makes it (the projection minus each earlier
        # code's entry of the same group, in order) from the codes already decided; the
        # distances are exact sums of squares; the nearest entry goes into keys[row, code]
        # by an atomic min on (distance bits << 32 | index): ties go to the lowest index,
        # as torch's argmin. Grid (rows, entries / BLOCK_E); keys start at int64's max.
        row = tl.program_id(0)
        chunk = tl.program_id(1)
        d = tl.arange(0, D)
        r = tl.load(proj_ptr + row * proj_stride + col0 + d)
        for i in range(0, code - key_base):
            key = tl.load(keys_ptr + row * n_codes + key_base + i)
            idx = (key & 0xFFFFFFFF).to(tl.int64)
            r = r - tl.load(emb_ptr + ((emb_base + i) * entries + idx) * D + d)
        e = chunk * BLOCK_E + tl.arange(0, BLOCK_E)
        ok = e < entries
        layer = emb_base + code - key_base
        vec = tl.load(emb_ptr + (layer * entries + e.to(tl.int64))[:, None] * D + d[None, :],
                      mask=ok[:, None], other=0.0)
        diff = vec - r[None, :]
        dist = tl.where(ok, tl.sum(diff * diff, axis=1), float("inf"))
        bits = dist.to(tl.int32, bitcast=True).to(tl.int64)  # ordered as the floats (>= 0)
        tl.atomic_min(keys_ptr + row * n_codes + code, tl.min((bits << 32) | e.to(tl.int64), axis=0))

    @triton.jit
    def rvq_sum(codes_ptr, emb_ptr, out_ptr, n_codes, T, n_first, first_layers, entries,
                s_b, s_k, s_t, D: tl.constexpr):
        # The entries of one row's codes summed per group, in code order as moshi sums
        # them: out[row] = [first group's sum | the rest's sum]. Grid (rows,).
        row = tl.program_id(0)
        b = row // T
        t = row % T
        d = tl.arange(0, D)
        first = tl.zeros((D,), dtype=tl.float32)
        rest = tl.zeros((D,), dtype=tl.float32)
        for k in range(0, n_codes):
            c = tl.load(codes_ptr + b * s_b + k * s_k + t * s_t).to(tl.int64)
            c = tl.minimum(tl.maximum(c, 0), entries - 1)  # never read outside the table
            layer = tl.where(k < n_first, k, first_layers + k - n_first).to(tl.int64)
            e = tl.load(emb_ptr + (layer * entries + c) * D + d)
            if k < n_first:
                first = first + e
            else:
                rest = rest + e
        tl.store(out_ptr + row * 2 * D + d, first)
        tl.store(out_ptr + row * 2 * D + D + d, rest)

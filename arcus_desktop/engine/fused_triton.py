"""The Triton kernels behind fused.py. Defined at module level (a jitted function can call
another only as a global), and only where Triton is installed: the bundled app leaves it
out, and every module must still import there."""

try:
    import triton
    import triton.language as tl
except ImportError:
    triton = None

try:  # programmatic dependent launch (Hopper on): Triton 3.3 and newer
    from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait
except ImportError:
    gdc_launch_dependents = gdc_wait = None

if triton is not None:
    @triton.jit
    def pdl_enter(PDL: tl.constexpr):
        # With programmatic dependent launch this kernel may start while the one before
        # it still runs: wait for it to end (its writes visible) before reading what it
        # wrote or writing what it reads; then let the next kernel launch behind us.
        if PDL:
            gdc_wait()
            gdc_launch_dependents()

    @triton.jit
    def cast(x, dt: tl.constexpr):
        # float32 -> dt, rounding to nearest even as torch does. For bfloat16 the rounding
        # is done on the bits: Triton's CPU interpreter (the tests) truncates otherwise.
        if dt == tl.bfloat16:
            bits = x.to(tl.uint32, bitcast=True)
            bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
            x = bits.to(tl.float32, bitcast=True)
        return x.to(dt)

    @triton.jit
    def add_rms_norm(x_ptr, d_ptr, sum_ptr, out_ptr, alpha_ptr, N, eps,
                     HAS_DELTA: tl.constexpr, BLOCK: tl.constexpr, PDL: tl.constexpr):
        # One program per row. With a delta: sum = x + delta rounded to x's dtype (as a
        # plain add is), and the norm of that rounded sum.
        pdl_enter(PDL)
        row = tl.program_id(0)
        cols = tl.arange(0, BLOCK)
        inside = cols < N
        x = tl.load(x_ptr + row * N + cols, mask=inside, other=0.0).to(tl.float32)
        if HAS_DELTA:
            d = tl.load(d_ptr + row * N + cols, mask=inside, other=0.0).to(tl.float32)
            s = cast(x + d, sum_ptr.dtype.element_ty)
            tl.store(sum_ptr + row * N + cols, s, mask=inside)
            x = s.to(tl.float32)
        var = eps + tl.sum(x * x, axis=0) / N
        alpha = tl.load(alpha_ptr + cols, mask=inside, other=0.0).to(tl.float32)
        y = x * (alpha * (1.0 / tl.sqrt(var)))
        tl.store(out_ptr + row * N + cols, cast(y, out_ptr.dtype.element_ty), mask=inside)

    @triton.jit
    def rope_write(qkv_ptr, cos_ptr, sin_ptr, slot_ptr, cache_ptr, q_ptr, H, T, HALF,
                   s_kv, s_b, s_h, s_t, BLOCK: tl.constexpr, PDL: tl.constexpr):
        # One program per (row, position, head): rotate q and k (interleaved pairs,
        # float32), write k and v into the ring at the position's slot, q to its own
        # tensor [B, H, T, D].
        pdl_enter(PDL)
        pid = tl.program_id(0)
        bt = pid // H
        h = pid % H
        b = bt // T
        i = tl.arange(0, BLOCK)
        inside = i < HALF
        D = 2 * HALF
        src = qkv_ptr + bt * 3 * H * D + h * D
        c = tl.load(cos_ptr + bt * HALF + i, mask=inside, other=0.0)
        s = tl.load(sin_ptr + bt * HALF + i, mask=inside, other=0.0)
        qr = tl.load(src + 2 * i, mask=inside, other=0.0).to(tl.float32)
        qi = tl.load(src + 2 * i + 1, mask=inside, other=0.0).to(tl.float32)
        kr = tl.load(src + H * D + 2 * i, mask=inside, other=0.0).to(tl.float32)
        ki = tl.load(src + H * D + 2 * i + 1, mask=inside, other=0.0).to(tl.float32)
        v0 = tl.load(src + 2 * H * D + 2 * i, mask=inside, other=0.0)
        v1 = tl.load(src + 2 * H * D + 2 * i + 1, mask=inside, other=0.0)
        dt = q_ptr.dtype.element_ty
        q = q_ptr + ((b * H + h) * T + bt % T) * D
        tl.store(q + 2 * i, cast(qr * c - qi * s, dt), mask=inside)
        tl.store(q + 2 * i + 1, cast(qr * s + qi * c, dt), mask=inside)
        slot = tl.load(slot_ptr + bt)
        k = cache_ptr + b * s_b + h * s_h + slot * s_t
        tl.store(k + 2 * i, cast(kr * c - ki * s, dt), mask=inside)
        tl.store(k + 2 * i + 1, cast(kr * s + ki * c, dt), mask=inside)
        tl.store(k + s_kv + 2 * i, v0, mask=inside)
        tl.store(k + s_kv + 2 * i + 1, v1, mask=inside)

    @triton.jit
    def ring_positions(end_ptr, offset_ptr, run_ptr, freqs_ptr, slots_ptr, allowed_ptr,
                       filled_ptr, angle_ptr, cap, context, HALF, T: tl.constexpr,
                       BLOCK: tl.constexpr, BLOCK_F: tl.constexpr, PDL: tl.constexpr):
        # One program per (row, block of ring slots): where a call's T keys go, which
        # slots each of its queries may see, as moshi's RingKVCache says (a slot's
        # position after the write; empty slots and those past the context are out),
        # how far the ring is filled, and the RoPE angles. Integer work only but the
        # angles, whose float32 product is torch's.
        pdl_enter(PDL)
        b = tl.program_id(0)
        blk = tl.program_id(1)
        end = tl.load(end_ptr + b)
        offset = tl.load(offset_ptr + b)
        written = end + T * tl.load(run_ptr + b).to(tl.int64)
        idx = blk * BLOCK + tl.arange(0, BLOCK)
        last = end + T - 1
        delta = idx - last % cap
        pos = tl.where(delta <= 0, last + delta, last + delta - cap)
        pos = tl.where(idx >= written, -1, pos)
        for t in tl.static_range(T):
            gap = offset + t - pos
            ok = (pos >= 0) & (gap >= 0) & (gap < context)
            tl.store(allowed_ptr + (b * T + t) * cap + idx, ok.to(tl.uint8), mask=idx < cap)
            if blk == 0:
                tl.store(slots_ptr + b * T + t, (end + t) % cap)
                f = tl.arange(0, BLOCK_F)
                freqs = tl.load(freqs_ptr + f, mask=f < HALF, other=0.0)
                tl.store(angle_ptr + (b * T + t) * HALF + f, freqs * (offset + t).to(tl.float32),
                         mask=f < HALF)
        if blk == 0:
            tl.store(filled_ptr + b, tl.minimum(written, cap))

    @triton.jit
    def embed_sum(tok_ptr, base_ptr, off_ptr, rows_ptr, out_ptr, dim, s_tok, TABLES: tl.constexpr,
                  BLOCK: tl.constexpr, PDL: tl.constexpr):
        # out[r] = the sum over tables i of table_i[tok[r, i]], in order, rounded to the
        # model's dtype after each add as `x = x + emb(t)` rounds; a token of -1 adds
        # zeros (moshi's ScaledEmbedding). Table i starts off[i] elements from base_ptr
        # (one kernel reads all of a frame's tables); tokens are clamped to the table.
        # The sum starts at -0.0, the identity of float addition.
        pdl_enter(PDL)
        r = tl.program_id(0)
        cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
        inside = cols < dim
        dt = out_ptr.dtype.element_ty
        acc = tl.full((BLOCK,), -0.0, tl.float32)
        for i in tl.static_range(TABLES):
            t = tl.load(tok_ptr + r * s_tok + i)
            row = tl.minimum(tl.maximum(t, 0), tl.load(rows_ptr + i) - 1)
            e = tl.load(base_ptr + tl.load(off_ptr + i) + row * dim + cols, mask=inside & (t != -1),
                        other=0.0)
            acc = cast(acc + e.to(tl.float32), dt).to(tl.float32)
        tl.store(out_ptr + r * dim + cols, acc.to(dt), mask=inside)

    @triton.jit
    def silu_mul(h_ptr, out_ptr, F, BLOCK: tl.constexpr, PDL: tl.constexpr):
        # [rows, 2, F] -> [rows, F]: silu(first half) rounded as F.silu rounds, times the
        # second half.
        pdl_enter(PDL)
        row = tl.program_id(1)
        cols = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        inside = cols < F
        a = tl.load(h_ptr + row * 2 * F + cols, mask=inside, other=0.0).to(tl.float32)
        g = tl.load(h_ptr + row * 2 * F + F + cols, mask=inside, other=0.0).to(tl.float32)
        dt = out_ptr.dtype.element_ty
        act = cast(a / (1.0 + tl.exp(-a)), dt).to(tl.float32)
        tl.store(out_ptr + row * F + cols, cast(act * g, dt), mask=inside)

    @triton.jit
    def ring_attention_part(q_ptr, cache_ptr, allowed_ptr, n_ptr, m_ptr, l_ptr, acc_ptr, H, T, cap,
                            s_kv, s_b, s_h, s_t, scale, D: tl.constexpr, CHUNK: tl.constexpr, PDL: tl.constexpr):
        # One program per (row, head, query, chunk of the ring): softmax statistics and the
        # weighted sum of values over the chunk's allowed slots. Slots from n on are never
        # allowed: a chunk past them does nothing (the join leaves it out), so attention
        # costs the filled part only.
        pdl_enter(PDL)
        pid = tl.program_id(0)
        c = tl.program_id(1)
        chunks = tl.num_programs(1)
        b = pid // (H * T)
        n = tl.load(n_ptr + b)
        if c * CHUNK < n:
            h = pid // T % H
            t = pid % T
            d = tl.arange(0, D)
            slot = c * CHUNK + tl.arange(0, CHUNK)
            ok = (slot < n) & (slot < cap)
            ok = ok & (tl.load(allowed_ptr + (b * T + t) * cap + slot, mask=ok, other=0) != 0)
            q = tl.load(q_ptr + pid * D + d).to(tl.float32) * scale
            keys = cache_ptr + b * s_b + h * s_h + slot[:, None] * s_t + d[None, :]
            k = tl.load(keys, mask=ok[:, None], other=0.0).to(tl.float32)
            s = tl.where(ok, tl.sum(k * q[None, :], axis=1), float("-inf"))
            top = tl.max(s, axis=0)
            p = tl.exp(s - tl.where(top == float("-inf"), 0.0, top))
            v = tl.load(keys + s_kv, mask=ok[:, None], other=0.0).to(tl.float32)
            tl.store(m_ptr + pid * chunks + c, top)
            tl.store(l_ptr + pid * chunks + c, tl.sum(p, axis=0))
            tl.store(acc_ptr + (pid * chunks + c) * D + d, tl.sum(p[:, None] * v, axis=0))

    @triton.jit
    def ring_attention_join(m_ptr, l_ptr, acc_ptr, n_ptr, out_ptr, chunks, H, T, s_ob, s_oh, s_ot,
                            D: tl.constexpr, C: tl.constexpr, CHUNK: tl.constexpr, PDL: tl.constexpr):
        # One program per (row, head, query): the partial softmaxes of the chunks that
        # hold filled slots as one; out at the given strides ([B, H, T, D] or [B, T, H, D]).
        pdl_enter(PDL)
        pid = tl.program_id(0)
        b = pid // (H * T)
        h = pid // T % H
        t = pid % T
        c = tl.arange(0, C)
        d = tl.arange(0, D)
        used = tl.minimum(chunks, (tl.load(n_ptr + b) + CHUNK - 1) // CHUNK)
        inside = c < used
        m = tl.load(m_ptr + pid * chunks + c, mask=inside, other=float("-inf"))
        top = tl.max(m, axis=0)
        top = tl.where(top == float("-inf"), 0.0, top)
        w = tl.where(inside, tl.exp(m - top), 0.0)
        l_sum = tl.sum(tl.load(l_ptr + pid * chunks + c, mask=inside, other=0.0) * w, axis=0)
        acc = tl.load(acc_ptr + (pid * chunks + c[:, None]) * D + d[None, :], mask=inside[:, None], other=0.0)
        out = tl.sum(acc * w[:, None], axis=0) / tl.where(l_sum > 0, l_sum, 1.0)
        tl.store(out_ptr + b * s_ob + h * s_oh + t * s_ot + d, cast(out, out_ptr.dtype.element_ty))

    @triton.jit
    def step_attention(qkv_ptr, cache_ptr, out_ptr, step, H, s_kv, s_b, s_h, s_t, scale,
                       D: tl.constexpr, S: tl.constexpr, PDL: tl.constexpr):
        # One program per (row, head) of a depformer step: write this step's key and
        # value into the cache, attend over steps 0..step (earlier ones from the cache,
        # this one from registers).
        pdl_enter(PDL)
        pid = tl.program_id(0)
        b = pid // H
        h = pid % H
        d = tl.arange(0, D)
        src = qkv_ptr + b * 3 * H * D + h * D
        q = tl.load(src + d).to(tl.float32) * scale
        k = tl.load(src + H * D + d)
        v = tl.load(src + 2 * H * D + d)
        base = cache_ptr + b * s_b + h * s_h
        tl.store(base + step * s_t + d, k)
        tl.store(base + s_kv + step * s_t + d, v)
        s = tl.arange(0, S)
        before = s < step
        keys = tl.load(base + s[:, None] * s_t + d[None, :], mask=before[:, None], other=0.0).to(tl.float32)
        vals = tl.load(base + s_kv + s[:, None] * s_t + d[None, :], mask=before[:, None], other=0.0).to(tl.float32)
        scores = tl.where(before, tl.sum(keys * q[None, :], axis=1), float("-inf"))
        own = tl.sum(k.to(tl.float32) * q, axis=0)
        top = tl.maximum(tl.max(scores, axis=0), own)
        p = tl.exp(scores - top)
        p_own = tl.exp(own - top)
        out = (tl.sum(p[:, None] * vals, axis=0) + p_own * v.to(tl.float32)) / (tl.sum(p, axis=0) + p_own)
        tl.store(out_ptr + pid * D + d, cast(out, out_ptr.dtype.element_ty))

    @triton.jit
    def sample_top_k(logits_ptr, noise_ptr, temp_ptr, k_ptr, out_ptr, V, s_temp, s_k, s_out,
                     KEEP: tl.constexpr, BITS: tl.constexpr, BLOCK: tl.constexpr, PDL: tl.constexpr):
        # One program per row, the whole row in registers (BLOCK >= V). The k-th largest
        # logit by bisection on order-preserving integer keys (BITS counts, no sort), ties
        # at it taken lowest index first; then the top-k draw as moshi makes it,
        # argmax(p / noise) with noise ~ Exp(1), or the argmax where temperature <= 0.
        # KEEP: out already holds the row's forced token where it is >= 0; keep it.
        pdl_enter(PDL)
        row = tl.program_id(0)
        i = tl.arange(0, BLOCK)
        inside = i < V
        x = tl.load(logits_ptr + row * V + i, mask=inside, other=float("-inf")).to(tl.float32)
        greedy = tl.argmax(x, axis=0)
        temp = tl.load(temp_ptr + row * s_temp).to(tl.float32)
        k = tl.load(k_ptr + row * s_k).to(tl.int32)
        k = tl.where((k <= 0) | (k > V), V, k)  # moshi: top-k 0 is every token
        bits = x.to(tl.uint32, bitcast=True)
        key = tl.where((bits >> 31) != 0, bits ^ 0xFFFFFFFF, bits | 0x80000000)
        key = tl.where(inside, key, 0)
        # bfloat16 logits (BITS 16) are told apart by the keys' high 16 bits alone (as
        # float32 their low 16 are zero; a negative's key has them all ones): with those
        # cleared, the bisection over the high 16 finds the same k-th key in half the passes.
        if BITS == 16:
            key = key & 0xFFFF0000
        t = tl.zeros((), dtype=tl.uint32)
        for b in tl.static_range(BITS):
            cand = t | (1 << (31 - b))
            t = tl.where(tl.sum((key >= cand).to(tl.int32), axis=0) >= k, cand, t)
        above = key > t
        tied = (key == t) & inside
        need = k - tl.sum(above.to(tl.int32), axis=0)
        keep = above | (tied & (tl.cumsum(tied.to(tl.int32), axis=0) <= need))
        noise = tl.load(noise_ptr + row * V + i, mask=inside, other=1.0)
        p = tl.exp((x - tl.max(x, axis=0)) / tl.maximum(temp, 1e-5))
        drawn = tl.argmax(tl.where(keep, p / noise, -1.0), axis=0)
        token = tl.where(temp > 0, drawn, greedy).to(tl.int64)
        if KEEP:
            forced = tl.load(out_ptr + row * s_out)
            token = tl.where(forced >= 0, forced, token)
        tl.store(out_ptr + row * s_out, token)

    @triton.jit
    def gemv(x_ptr, d_ptr, sum_ptr, alpha_ptr, beta_ptr, res_ptr, scale_ptr, w_ptr, bias_ptr, out_ptr,
             N, eps, K: tl.constexpr, PRO: tl.constexpr, HAS_DELTA: tl.constexpr,
             HAS_RES: tl.constexpr, HAS_SCALE: tl.constexpr, HAS_BIAS: tl.constexpr, BLOCK_N: tl.constexpr,
             BLOCK_K: tl.constexpr, PDL: tl.constexpr):
        # out[row, n] = W[n, :] . h for a weight W [N, K] (a Linear's, no bias) and one
        # row's input h, made in the prologue: PRO 0 h = x (+ d); 1 h = rms_norm(x + d)
        # as add_rms_norm makes it (program 0 writes x + d); 2 h = the gate of x [2K] as
        # silu_mul makes it; 3 h = layer_norm(x) (scale alpha, shift beta); 4 h = gelu(x)
        # (erf). The epilogue may add a bias, then a residual times a per-channel scale
        # (moshi's LayerScale). Grid (N / BLOCK_N, rows). The K loop is unrolled so every weight
        # load can be in flight at once (a small GEMV waits on latency, not bandwidth).
        pid = tl.program_id(0)
        row = tl.program_id(1)
        dt = out_ptr.dtype.element_ty
        n = pid * BLOCK_N + tl.arange(0, BLOCK_N)
        n_ok = n < N
        # The first block of weights is read before waiting on the kernel before (no
        # kernel writes weights): under PDL its latency hides behind that kernel's end.
        k_first = tl.arange(0, BLOCK_K)
        w_first = tl.load(w_ptr + n[:, None] * K + k_first[None, :], mask=n_ok[:, None] & (k_first < K)[None, :],
                          other=0.0)
        pdl_enter(PDL)
        x_row = x_ptr + row * (2 * K if PRO == 2 else K)
        inv = 1.0
        mean = 0.0
        if PRO == 1:
            ss = 0.0
            for k0 in tl.static_range(0, K, BLOCK_K):
                kk = k0 + tl.arange(0, BLOCK_K)
                ok = kk < K
                v = tl.load(x_row + kk, mask=ok, other=0.0).to(tl.float32)
                if HAS_DELTA:
                    v = cast(v + tl.load(d_ptr + row * K + kk, mask=ok, other=0.0).to(tl.float32),
                             dt).to(tl.float32)
                    tl.store(sum_ptr + row * K + kk, v.to(dt), mask=ok & (pid == 0))
                ss += tl.sum(v * v, axis=0)
            inv = 1.0 / tl.sqrt(eps + ss / K)
        if PRO == 3:
            s1 = 0.0
            for k0 in tl.static_range(0, K, BLOCK_K):
                kk = k0 + tl.arange(0, BLOCK_K)
                s1 += tl.sum(tl.load(x_row + kk, mask=kk < K, other=0.0).to(tl.float32), axis=0)
            mean = s1 / K
            s2 = 0.0
            for k0 in tl.static_range(0, K, BLOCK_K):
                kk = k0 + tl.arange(0, BLOCK_K)
                c = tl.where(kk < K, tl.load(x_row + kk, mask=kk < K, other=0.0).to(tl.float32) - mean, 0.0)
                s2 += tl.sum(c * c, axis=0)
            inv = 1.0 / tl.sqrt(s2 / K + eps)
        acc = tl.zeros((BLOCK_N, BLOCK_K), dtype=tl.float32)
        for k0 in tl.static_range(0, K, BLOCK_K):
            kk = k0 + tl.arange(0, BLOCK_K)
            ok = kk < K
            if PRO == 2:
                a = tl.load(x_row + kk, mask=ok, other=0.0).to(tl.float32)
                g = tl.load(x_row + K + kk, mask=ok, other=0.0).to(tl.float32)
                h = cast(cast(a / (1.0 + tl.exp(-a)), dt).to(tl.float32) * g, dt).to(tl.float32)
            else:
                v = tl.load(x_row + kk, mask=ok, other=0.0).to(tl.float32)
                if HAS_DELTA:
                    v = cast(v + tl.load(d_ptr + row * K + kk, mask=ok, other=0.0).to(tl.float32),
                             dt).to(tl.float32)
                    if PRO == 0:
                        tl.store(sum_ptr + row * K + kk, v.to(dt), mask=ok & (pid == 0))
                if PRO == 0:
                    h = v
                elif PRO == 1:
                    alpha = tl.load(alpha_ptr + kk, mask=ok, other=0.0).to(tl.float32)
                    h = cast(v * (alpha * inv), dt).to(tl.float32)
                elif PRO == 3:
                    alpha = tl.load(alpha_ptr + kk, mask=ok, other=0.0).to(tl.float32)
                    beta = tl.load(beta_ptr + kk, mask=ok, other=0.0).to(tl.float32)
                    h = cast((v - mean) * inv * alpha + beta, dt).to(tl.float32)
                else:
                    h = cast(0.5 * v * (1.0 + tl.erf(v * 0.7071067811865476)), dt).to(tl.float32)
            if k0 == 0:
                w = w_first
            else:
                w = tl.load(w_ptr + n[:, None] * K + kk[None, :], mask=n_ok[:, None] & ok[None, :], other=0.0)
            acc += w.to(tl.float32) * h[None, :]
        y = tl.sum(acc, axis=1)
        if HAS_BIAS:
            y += tl.load(bias_ptr + n, mask=n_ok, other=0.0).to(tl.float32)
        y = cast(y, dt)
        if HAS_RES:
            y = y.to(tl.float32)
            if HAS_SCALE:
                y = tl.load(scale_ptr + n, mask=n_ok, other=0.0).to(tl.float32) * y
            y = cast(tl.load(res_ptr + row * N + n, mask=n_ok, other=0.0).to(tl.float32) + y, dt)
        tl.store(out_ptr + row * N + n, y, mask=n_ok)

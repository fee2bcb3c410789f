"""The Triton kernels behind rvq_lean.py (Mimi's quantizer) and seanet_lean.py (its
convolutions). Defined only where Triton is installed: the bundled app leaves it out, and
every module must still import there."""

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

    @triton.jit
    def elu(v):
        # ELU (alpha 1) with expm1 to float32 accuracy (Kahan's form; Triton's interpreter
        # has no expm1): exp(x) - 1 alone loses the small negative values' digits.
        neg = tl.minimum(v, 0.0)
        u = tl.exp(neg)
        um1 = u - 1.0
        e = tl.where(u == 1.0, neg, tl.where(um1 == -1.0, -1.0,
                                             um1 * neg / tl.log(tl.where(u == 1.0, 2.0, u))))
        return tl.where(v > 0, v, e)

    @triton.jit
    def conv_source(x_ptr, skip_ptr, b, c, p, mask, sxb, sxc, sxt, ssb, ssc, sst,
                    ELU: tl.constexpr, SKIP: tl.constexpr):
        # The conv's new input at times p [P] and channels c [C]: x (+ skip), then ELU.
        v = tl.load(x_ptr + b * sxb + c[None, :] * sxc + p[:, None] * sxt, mask=mask, other=0.0)
        if SKIP:
            v += tl.load(skip_ptr + b * ssb + c[None, :] * ssc + p[:, None] * sst, mask=mask, other=0.0)
        if ELU:
            v = elu(v)
        return v

    @triton.jit
    def conv_input(x_ptr, skip_ptr, prev_ptr, b, c, pos, mask, C, TP, sxb, sxc, sxt, ssb, ssc, sst,
                   ELU: tl.constexpr, SKIP: tl.constexpr, HAS_PREV: tl.constexpr):
        # The conv's whole input [prev | elu(x + skip)] at positions pos [P], channels c.
        old = (pos < TP)[:, None]
        v = conv_source(x_ptr, skip_ptr, b, c, pos - TP, mask & ~old, sxb, sxc, sxt, ssb, ssc, sst,
                        ELU, SKIP)
        if HAS_PREV:
            pv = tl.load(prev_ptr + (b * C + c[None, :]) * TP + pos[:, None], mask=mask & old, other=0.0)
            v = tl.where(old, pv, v)
        return v

    @triton.jit
    def conv_unfold(x_ptr, skip_ptr, prev_ptr, run_ptr, u_ptr, C, T, T_OUT, TP,
                    sxb, sxc, sxt, ssb, ssc, sst, K: tl.constexpr, S: tl.constexpr,
                    ELU: tl.constexpr, SKIP: tl.constexpr, HAS_PREV: tl.constexpr, BT: tl.constexpr,
                    BC: tl.constexpr, BP: tl.constexpr):
        # A streaming conv's input [prev | elu(x + skip)] unfolded for one matmul:
        # u[b * T_OUT + t, c * K + k] = input[b, c, t * S + k]; prev [B, C, TP] is moshi's
        # state (the last TP input columns, after the activation). The programs of the
        # first time block also write the new state (rows not running keep theirs): they
        # alone read the old one (BT * S >= TP), so a barrier orders it.
        b = tl.program_id(0)
        tb = tl.program_id(1)
        c = tl.program_id(2) * BC + tl.arange(0, BC)
        t = tb * BT + tl.arange(0, BT)
        cm = c < C
        m2 = (t < T_OUT)[:, None] & cm[None, :]
        for k in tl.static_range(K):
            v = conv_input(x_ptr, skip_ptr, prev_ptr, b, c, t * S + k, m2, C, TP, sxb, sxc, sxt,
                           ssb, ssc, sst, ELU, SKIP, HAS_PREV)
            tl.store(u_ptr + (b * T_OUT + t[:, None]) * (C * K) + c[None, :] * K + k, v, mask=m2)
        if HAS_PREV and tb == 0:
            j = tl.arange(0, BP)
            s2 = (j < TP)[:, None] & cm[None, :]
            keep = tl.load(prev_ptr + (b * C + c[None, :]) * TP + j[:, None], mask=s2, other=0.0)
            tail = conv_input(x_ptr, skip_ptr, prev_ptr, b, c, T + j, s2, C, TP, sxb, sxc, sxt,
                              ssb, ssc, sst, ELU, SKIP, HAS_PREV)
            new = tl.where(tl.load(run_ptr + b) != 0, tail, keep)
            tl.debug_barrier()
            tl.store(prev_ptr + (b * C + c[None, :]) * TP + j[:, None], new, mask=s2)

    @triton.jit
    def overlap_add(col_ptr, b, c, u, mask, CO, T, K: tl.constexpr, S: tl.constexpr,
                    J: tl.constexpr, BU: tl.constexpr, BC: tl.constexpr):
        # A transposed conv's output at positions u [BU], before bias: the sum of its
        # columns col[b * T + t, c * K + k] with t * S + k = u.
        acc = tl.zeros((BU, BC), dtype=tl.float32)
        for j in tl.static_range(J):
            t = u // S - j
            k = u % S + j * S
            ok = ((t >= 0) & (t < T) & (k < K))[:, None] & mask
            acc += tl.load(col_ptr + (b * T + t[:, None]) * (CO * K) + c[None, :] * K + k[:, None],
                           mask=ok, other=0.0)
        return acc

    @triton.jit
    def convtr_fold(col_ptr, bias_ptr, partial_ptr, run_ptr, out_ptr, CO, T, PT,
                    K: tl.constexpr, S: tl.constexpr, J: tl.constexpr, HAS_BIAS: tl.constexpr,
                    BU: tl.constexpr, BC: tl.constexpr, BP: tl.constexpr):
        # A streaming transposed conv from its columns col[b * T + t, c * K + k] (input
        # times the weights): out[b * T * S + u, c] = the overlap-added columns + bias
        # + moshi's partial state [B, CO, PT] for u < PT. The first block of u also
        # writes the new partial (the tail past T * S, without bias), behind a barrier.
        b = tl.program_id(0)
        ub = tl.program_id(1)
        c = tl.program_id(2) * BC + tl.arange(0, BC)
        u = ub * BU + tl.arange(0, BU)
        cm = c < CO
        om = (u < T * S)[:, None] & cm[None, :]
        acc = overlap_add(col_ptr, b, c, u, om, CO, T, K, S, J, BU, BC)
        if HAS_BIAS:
            acc += tl.load(bias_ptr + c, mask=cm, other=0.0)[None, :]
        pm = (u < PT)[:, None] & cm[None, :]
        acc += tl.load(partial_ptr + (b * CO + c[None, :]) * PT + u[:, None], mask=pm, other=0.0)
        tl.store(out_ptr + (b * T * S + u[:, None]) * CO + c[None, :], acc, mask=om)
        if PT > 0 and ub == 0:
            i = tl.arange(0, BP)
            s2 = (i < PT)[:, None] & cm[None, :]
            tail = overlap_add(col_ptr, b, c, T * S + i, s2, CO, T, K, S, J, BP, BC)
            keep = tl.load(partial_ptr + (b * CO + c[None, :]) * PT + i[:, None], mask=s2, other=0.0)
            new = tl.where(tl.load(run_ptr + b) != 0, tail, keep)
            tl.debug_barrier()
            tl.store(partial_ptr + (b * CO + c[None, :]) * PT + i[:, None], new, mask=s2)

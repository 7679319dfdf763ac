// The blocked GEMM algorithm (GotoBLAS / BLIS loop nest), written once over a small vector type.
// Each ISA file (gemm.cpp for the portable build, gemm_avx2.cpp, gemm_avx512.cpp) defines its vector
// type and blocking in a Traits struct and instantiates gemm_blocked<Traits>() with its own flags.
//
// Layout (all row-major, C contiguous along N, so vectors run along N):
//   C (MR x NR micro-tile) += A micro-panel (MR x KC, one element broadcast per row and k)
//                           * B micro-panel (KC x NR, NV vectors loaded per k).
// Loop nest per thread, outermost first (gemm_serial, for cores with an L2 of 1 MiB or more):
//   ic (MC rows of A, packed into MR-row panels) -> pc (KC) -> jc (NC columns of B, packed into
//   NR-column panels, the block that stays in L2) -> ir (MR) -> jr (NR): micro-kernel.
//   The A micro-panel (MR x KC) stays in L1 across the jr loop; the B block streams from L2.
// Or, for Traits with kGotoOrder (gemm_serial_goto, for smaller L2s), the GotoBLAS order:
//   jc (NC, the packed B block in L3) -> pc (KC) -> ic (MC, the packed A block in L2) -> jr (NR,
//   the B micro-panel stays in L1 across the ir loop) -> ir (MR, A micro-panels from L2).
// Small operands are not packed: the micro-kernel reads A (either orientation) and an untransposed
// B in place, which is what wins for the small shapes of the networks (e.g. 64x784x128).
// Threads: C is cut into a tm x tn grid of independent sub-problems, one per thread, each with its
// own slice of the caller's workspace (allocated before the parallel region, so no allocation ever
// happens inside it), packing what it reads; no barriers (run_parts, common/parallel.h, runs the
// sub-problems one after the other when the cores are oversubscribed).
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "common/aligned_buffer.h"
#include "common/parallel.h"
#include "gemm_isa.h"

namespace pk::cpu {
// NOTE: everything here has internal linkage on purpose. This header is compiled once per ISA with
// different -m flags; with external linkage the linker could keep, say, the AVX-512 copy of a
// helper and call it from the portable code path on a CPU without AVX-512.
namespace {

// ---- micro-kernel ------------------------------------------------------------------------------

// C[0:MR, 0:n] = alpha * sum_p opA(i, p) * B(p, j) + beta * C (C not read when beta == 0), where
// n = (NV - 1) * lanes + nlast. A element (i, p) is a[i * sa + p] when kAK (A rows contiguous in k)
// and a[p * sa + i] otherwise (packed panels: sa = MR; transposed A read in place: sa = lda).
// B(p, j) is b[p * ldb + j]; kMaskB: the last vector of each B row holds only nlast valid lanes
// (B read in place at its right edge), lanes past nlast are not read.
template <class V, int MR, int NV, bool kAK, bool kMaskB>
void micro_tile(int64_t kc, const typename V::T* a, int64_t sa, const typename V::T* b, int64_t ldb,
                typename V::T* c, int64_t ldc, typename V::T alpha, typename V::T beta, int nlast) {
  using T = typename V::T;
  using Reg = typename V::Reg;
  constexpr int L = V::kLanes;
  const auto mask = V::mask(nlast);
  Reg acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();

  // The C tile is needed only after the k loop: start fetching it now, hidden behind the FMAs.
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    __builtin_prefetch(c + i * ldc, 1, 3);
    if (NV * L * sizeof(T) > 64) __builtin_prefetch(c + i * ldc + NV * L - 1, 1, 3);
  }
  const T* arow[kAK ? MR : 1];
  if constexpr (kAK) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) arow[i] = a + i * sa;
  }
#pragma GCC unroll 2
  for (int64_t p = 0; p < kc; ++p) {
    Reg bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      bv[v] = (kMaskB && v == NV - 1) ? V::load(b + v * L, mask) : V::load(b + v * L);
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const Reg av = kAK ? V::bcast(arow[i] + p) : V::bcast(a + i);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = V::fma(av, bv[v], acc[i][v]);
    }
    b += ldb;
    if constexpr (!kAK) a += sa;
  }

  const Reg va = V::set1(alpha);
  const Reg vb = V::set1(beta);
  const bool full = nlast == L;
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    T* ci = c + i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      Reg r = V::mul(acc[i][v], va);
      if (v < NV - 1 || full) {
        if (beta != T(0)) r = V::fma(vb, V::load(ci + v * L), r);
        V::store(ci + v * L, r);
      } else {
        if (beta != T(0)) r = V::fma(vb, V::load(ci + v * L, mask), r);
        V::store(ci + v * L, r, mask);
      }
    }
  }
}

template <class V>
using TileFn = void (*)(int64_t, const typename V::T*, int64_t, const typename V::T*, int64_t, typename V::T*,
                        int64_t, typename V::T, typename V::T, int);

// Every micro-kernel variant: fn[kAK][kMaskB][mr - 1][nv - 1] for the edge sizes mr <= MR, nv <= NV.
template <class V, int MR, int NV>
struct TileTable {
  TileFn<V> fn[2][2][MR][NV];
  TileTable() { fill_rows(std::make_integer_sequence<int, MR>{}); }

 private:
  template <int... Is>
  void fill_rows(std::integer_sequence<int, Is...>) {
    (fill_row<Is + 1>(std::make_integer_sequence<int, NV>{}), ...);
  }
  template <int R, int... Vs>
  void fill_row(std::integer_sequence<int, Vs...>) {
    ((fn[0][0][R - 1][Vs] = &micro_tile<V, R, Vs + 1, false, false>), ...);
    ((fn[0][1][R - 1][Vs] = &micro_tile<V, R, Vs + 1, false, true>), ...);
    ((fn[1][0][R - 1][Vs] = &micro_tile<V, R, Vs + 1, true, false>), ...);
    ((fn[1][1][R - 1][Vs] = &micro_tile<V, R, Vs + 1, true, true>), ...);
  }
};

template <class V, int MR, int NV>
const TileTable<V, MR, NV>& tile_table() {
  static const TileTable<V, MR, NV> table;
  return table;
}

// ---- packing -----------------------------------------------------------------------------------

// op(A)[i0:i0+mc, p0:p0+kc] into MR-row panels, panel q at q*MR*kc. A transposed A is stored
// k-major (element (i, p) at p*MR + i, a copy of rows of A); an untransposed A stays row-major
// within the panel (element (i, p) at i*kc + p, a copy of row pieces) and the micro-kernel reads it
// in kAK mode, so that neither orientation needs a transpose, unless `kmajor` asks for the k-major
// layout in both (one stream of broadcasts: the GotoBLAS order, whose A micro-panels come from L2).
// Rows past the edge of the last panel are left unwritten (never read).
template <int MR, class T>
void pack_a(const GemmArgs<T>& g, int64_t i0, int64_t mc, int64_t p0, int64_t kc, T* dst, bool kmajor) {
  for (int64_t r = 0; r < mc; r += MR) {
    const int64_t mr = std::min<int64_t>(MR, mc - r);
    T* d = dst + r * kc;
    if (g.trans_a) {  // op(A)(i, p) = a[p * lda + i]
      const T* s = g.a + p0 * g.lda + i0 + r;
      for (int64_t p = 0; p < kc; ++p)
        for (int64_t i = 0; i < mr; ++i) d[p * MR + i] = s[p * g.lda + i];
      continue;
    }
    const T* s = g.a + (i0 + r) * g.lda + p0;  // op(A)(i, p) = a[i * lda + p]
    if (!kmajor) {
      for (int64_t i = 0; i < mr; ++i)
        for (int64_t p = 0; p < kc; ++p) d[i * kc + p] = s[i * g.lda + p];
    } else if (mr == MR) {
      for (int64_t p = 0; p < kc; ++p)
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) d[p * MR + i] = s[i * g.lda + p];
    } else {
      for (int64_t p = 0; p < kc; ++p)
        for (int64_t i = 0; i < mr; ++i) d[p * MR + i] = s[i * g.lda + p];
    }
  }
}

// op(B)[p0:p0+kc, j0:j0+nc] into NR-column panels: panel q holds columns q*NR.., element (p, j) at
// q*NR*kc + p*NR + j; columns past the edge are zero.
template <int NR, class T>
void pack_b(const GemmArgs<T>& g, int64_t p0, int64_t kc, int64_t j0, int64_t nc, T* dst) {
  int64_t q0 = 0;
  if (!g.trans_b) {
    // Whole panels row by row of B: each row of B is read once, front to back, and lands as one
    // NR-element piece in each panel (rather than a panel at a time, KC rows a page apart each).
    q0 = nc / NR * NR;
    for (int64_t p = 0; p < kc; ++p) {
      const T* s = g.b + (p0 + p) * g.ldb + j0;
      T* d = dst + p * NR;
      for (int64_t q = 0; q < q0; q += NR) std::memcpy(d + q * kc, s + q, NR * sizeof(T));
    }
  }
  for (int64_t q = q0; q < nc; q += NR) {
    const int64_t nr = std::min<int64_t>(NR, nc - q);
    T* d = dst + q * kc;
    if (g.trans_b) {  // op(B)(p, j) = b[j * ldb + p]: a transpose
      const T* s = g.b + (j0 + q) * g.ldb + p0;
      for (int64_t j = 0; j < nr; ++j)
        for (int64_t p = 0; p < kc; ++p) d[p * NR + j] = s[j * g.ldb + p];
      if (nr < NR)
        for (int64_t p = 0; p < kc; ++p)
          for (int64_t j = nr; j < NR; ++j) d[p * NR + j] = T(0);
    } else {
      const T* s = g.b + p0 * g.ldb + j0 + q;
      for (int64_t p = 0; p < kc; ++p) {
        for (int64_t j = 0; j < nr; ++j) d[p * NR + j] = s[p * g.ldb + j];
        for (int64_t j = nr; j < NR; ++j) d[p * NR + j] = T(0);
      }
    }
  }
}

// ---- one thread's sub-problem ----------------------------------------------------------------------

template <class K>
struct Plan {
  bool pack_a, pack_b;
};

// Pack an operand unless it is small enough to be read in place from L2 (see the header comment).
template <class K, class T>
Plan<K> plan(const GemmArgs<T>& g) {
  const int64_t bytes_a = g.m * g.k * static_cast<int64_t>(sizeof(T));
  const int64_t bytes_b = g.k * g.n * static_cast<int64_t>(sizeof(T));
  Plan<K> p;
  p.pack_a = g.trans_a ? bytes_a > K::kDirectTransA : bytes_a > K::kDirectA;
  p.pack_b = g.trans_b || bytes_b > K::kDirectB;
  return p;
}

// Whether K asks for the GotoBLAS order of gemm_serial_goto (declares kGotoOrder = true).
template <class K, class = void>
struct GotoOrder : std::false_type {};
template <class K>
struct GotoOrder<K, std::void_t<decltype(K::kGotoOrder)>> : std::bool_constant<K::kGotoOrder> {};

template <class K>
constexpr int64_t workspace_per_thread() {
  static_assert(K::kMC % K::kMR == 0 && K::kNC % (K::kNV * K::V::kLanes) == 0, "blocks hold whole panels");
  return K::kMC * K::kKC + K::kKC * K::kNC;
}

// Block size for a dimension of `size` split into ceil(size / max_block) equal blocks, rounded up to a
// multiple of `unit` (max_block is one too, so the result never exceeds it).
inline int64_t even_block(int64_t size, int64_t max_block, int64_t unit) {
  const int64_t blocks = (size + max_block - 1) / max_block;
  const int64_t b = (size + blocks - 1) / blocks;
  return std::min(max_block, (b + unit - 1) / unit * unit);
}

// What both loop orders share: the plan, the workspace's two blocks, the block sizes, the
// micro-kernels, and where each micro-kernel call finds its operands (packed or read in place).
// `kmajor`: packed A panels are k-major whatever A's orientation (see pack_a).
template <class K>
struct Blocking {
  using V = typename K::V;
  using T = typename V::T;
  static constexpr int MR = K::kMR, L = V::kLanes, NR = K::kNV * L;

  const GemmArgs<T>& g;
  const bool kmajor;
  const Plan<K> pl = plan<K>(g);
  T* const abuf;  // the packed A block: MR-row panels
  T* const bbuf;  // the packed B block: NR-column panels
  // the micro-kernels for A read with its rows contiguous in k (unpacked, or packed row-major)
  const TileFn<V> (&tiles)[2][MR][K::kNV] = tile_table<V, MR, K::kNV>().fn[!g.trans_a && !(pl.pack_a && kmajor)];
  // Equal blocks rather than full blocks and a sliver (k = 784 is 4 x 196, not 3 x 256 + 16).
  const int64_t MC = even_block(g.m, K::kMC, MR);
  const int64_t KC = even_block(g.k, K::kKC, 1);
  const int64_t NC = even_block(g.n, K::kNC, NR);

  Blocking(const GemmArgs<T>& args, T* work, bool kmajor_a)
      : g(args), kmajor(kmajor_a), abuf(work), bbuf(work + K::kMC * K::kKC) {}

  void pack_a_block(int64_t ic, int64_t mc, int64_t pc, int64_t kc) const {
    if (pl.pack_a) pack_a<MR>(g, ic, mc, pc, kc, abuf, kmajor);
  }
  void pack_b_block(int64_t pc, int64_t kc, int64_t jc, int64_t nc) const {
    if (pl.pack_b) pack_b<NR>(g, pc, kc, jc, nc, bbuf);
  }

  // The A micro-panel of rows i0 + r (r: its offset in the block starting at row i0), columns
  // pc ..: its start and its stride sa (see micro_tile).
  std::pair<const T*, int64_t> a(int64_t i0, int64_t r, int64_t pc, int64_t kc) const {
    if (pl.pack_a) return {abuf + r * kc, kmajor || g.trans_a ? MR : kc};
    if (g.trans_a) return {g.a + pc * g.lda + i0 + r, g.lda};
    return {g.a + (i0 + r) * g.lda + pc, g.lda};
  }
  // The B micro-panel of columns j0 + q, rows pc ..: its start, row stride, and whether its last
  // vector must be read masked (B in place, at its right edge).
  struct B {
    const T* p;
    int64_t ld;
    bool mask;
  };
  B b(int64_t j0, int64_t q, int64_t pc, int64_t kc, int nlast) const {
    if (pl.pack_b) return {bbuf + q * kc, NR, false};
    return {g.b + pc * g.ldb + j0 + q, g.ldb, nlast != L};
  }
};

// The order with the B block in L2 (see the header comment).
template <class K>
void gemm_serial(const GemmArgs<typename K::V::T>& g, typename K::V::T* work) {
  using T = typename K::V::T;
  constexpr int MR = K::kMR, L = K::V::kLanes, NR = K::kNV * L;
  const Blocking<K> op(g, work, false);
  for (int64_t ic = 0; ic < g.m; ic += op.MC) {
    const int64_t mc = std::min<int64_t>(op.MC, g.m - ic);
    for (int64_t pc = 0; pc < g.k; pc += op.KC) {
      const int64_t kc = std::min<int64_t>(op.KC, g.k - pc);
      const T beta = pc == 0 ? g.beta : T(1);
      op.pack_a_block(ic, mc, pc, kc);
      for (int64_t jc = 0; jc < g.n; jc += op.NC) {
        const int64_t nc = std::min<int64_t>(op.NC, g.n - jc);
        op.pack_b_block(pc, kc, jc, nc);
        for (int64_t ir = 0; ir < mc; ir += MR) {
          const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
          const auto [ap, sa] = op.a(ic, ir, pc, kc);
          T* crow = g.c + (ic + ir) * g.ldc + jc;
          for (int64_t jr = 0; jr < nc; jr += NR) {
            const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jr));
            const int nv = (nr + L - 1) / L;
            const int nlast = nr - (nv - 1) * L;
            const auto bp = op.b(jc, jr, pc, kc, nlast);
            op.tiles[bp.mask][mr - 1][nv - 1](kc, ap, sa, bp.p, bp.ld, crow + jr, g.ldc, g.alpha, beta, nlast);
          }
        }
      }
    }
  }
}

// The same product in the GotoBLAS / BLIS order, for cores whose L2 is too small to hold a B block
// of the order above next to its streams: jc (NC columns of B, the packed B block in L3) -> pc (KC)
// -> ic (MC rows of A, the packed A block in L2) -> jr (NR: the B micro-panel, KC x NR, stays in L1)
// -> ir (MR: the A micro-panels stream from L2) -> micro-kernel. A is packed k-major, one stream.
template <class K>
void gemm_serial_goto(const GemmArgs<typename K::V::T>& g, typename K::V::T* work) {
  using T = typename K::V::T;
  constexpr int MR = K::kMR, L = K::V::kLanes, NR = K::kNV * L;
  const Blocking<K> op(g, work, true);
  for (int64_t jc = 0; jc < g.n; jc += op.NC) {
    const int64_t nc = std::min<int64_t>(op.NC, g.n - jc);
    for (int64_t pc = 0; pc < g.k; pc += op.KC) {
      const int64_t kc = std::min<int64_t>(op.KC, g.k - pc);
      const T beta = pc == 0 ? g.beta : T(1);
      op.pack_b_block(pc, kc, jc, nc);
      for (int64_t ic = 0; ic < g.m; ic += op.MC) {
        const int64_t mc = std::min<int64_t>(op.MC, g.m - ic);
        op.pack_a_block(ic, mc, pc, kc);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jr));
          const int nv = (nr + L - 1) / L;
          const int nlast = nr - (nv - 1) * L;
          const auto bp = op.b(jc, jr, pc, kc, nlast);
          T* ccol = g.c + ic * g.ldc + jc + jr;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
            const auto [ap, sa] = op.a(ic, ir, pc, kc);
            op.tiles[bp.mask][mr - 1][nv - 1](kc, ap, sa, bp.p, bp.ld, ccol + ir * g.ldc, g.ldc, g.alpha, beta,
                                              nlast);
          }
        }
      }
    }
  }
}

template <class K>
void gemm_one_thread(const GemmArgs<typename K::V::T>& g, typename K::V::T* work) {
  if constexpr (GotoOrder<K>::value)
    gemm_serial_goto<K>(g, work);
  else
    gemm_serial<K>(g, work);
}

// C = beta * C for k == 0 (beta == 0 writes zeros without reading C).
template <class T>
void scale_c(const GemmArgs<T>& g) {
  for (int64_t i = 0; i < g.m; ++i) {
    T* ci = g.c + i * g.ldc;
    if (g.beta == T(0)) {
      for (int64_t j = 0; j < g.n; ++j) ci[j] = T(0);
    } else if (g.beta != T(1)) {
      for (int64_t j = 0; j < g.n; ++j) ci[j] *= g.beta;
    }
  }
}

// ---- threads ---------------------------------------------------------------------------------------

struct Grid {
  int tm, tn;
};

// Split C over nt threads as tm x tn blocks (whole MR panels x whole vectors), minimising the
// slowest thread's micro-kernel work plus its packing.
template <class K>
Grid choose_grid(int64_t m, int64_t n, int nt) {
  constexpr int MR = K::kMR;
  constexpr int L = K::V::kLanes;
  const int64_t rows = (m + MR - 1) / MR;
  const int64_t cols = (n + L - 1) / L;
  Grid best{1, nt};
  double best_cost = -1.0;
  for (int tm = 1; tm <= nt; ++tm) {
    if (nt % tm) continue;
    const int tn = nt / tm;
    if (tm > rows || tn > cols) continue;
    const double r = static_cast<double>((rows + tm - 1) / tm) * MR;
    const double cv = static_cast<double>((cols + tn - 1) / tn);
    const double cost = r * cv + 0.5 * (r + cv * L);
    if (best_cost < 0 || cost < best_cost) {
      best = {tm, tn};
      best_cost = cost;
    }
  }
  return best;
}

template <class K>
int gemm_threads(int64_t m, int64_t n, int64_t k) {
  if (omp_in_parallel()) return 1;
  const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const int64_t by_work = static_cast<int64_t>(work / K::kFlopsPerThread) + 1;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), by_work)));
}

// ---- one row of C (m == 1, B not transposed) ---------------------------------------------------

// C[0, j0 : j0 + NV lanes) for a row vector op(A) (k) times B: NV independent accumulators along N.
// The micro-kernel would keep one row and two vectors of accumulators, whose FMA chains stall on
// their latency at every k.
template <class V, int NV>
void row_times_b(const GemmArgs<typename V::T>& g, int64_t j0, int nlast) {
  using T = typename V::T;
  using Reg = typename V::Reg;
  constexpr int L = V::kLanes;
  const auto mask = V::mask(nlast);
  const int64_t sa = g.trans_a ? g.lda : 1;
  Reg acc[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) acc[v] = V::zero();
  const T* b = g.b + j0;
  for (int64_t p = 0; p < g.k; ++p) {
    const Reg av = V::bcast(g.a + p * sa);
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      const Reg bv = v == NV - 1 && nlast != L ? V::load(b + v * L, mask) : V::load(b + v * L);
      acc[v] = V::fma(av, bv, acc[v]);
    }
    b += g.ldb;
  }
  const Reg va = V::set1(g.alpha);
  const Reg vb = V::set1(g.beta);
  T* c = g.c + j0;
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    Reg r = V::mul(acc[v], va);
    if (v < NV - 1 || nlast == L) {
      if (g.beta != T(0)) r = V::fma(vb, V::load(c + v * L), r);
      V::store(c + v * L, r);
    } else {
      if (g.beta != T(0)) r = V::fma(vb, V::load(c + v * L, mask), r);
      V::store(c + v * L, r, mask);
    }
  }
}

template <class V>
void row_gemm(const GemmArgs<typename V::T>& g) {
  constexpr int L = V::kLanes;
  constexpr int kMaxNV = 8;
  for (int64_t j0 = 0; j0 < g.n; j0 += kMaxNV * L) {
    const int64_t cols = std::min<int64_t>(kMaxNV * L, g.n - j0);
    const int nv = static_cast<int>((cols + L - 1) / L);
    const int nlast = static_cast<int>(cols - (nv - 1) * L);
    switch (nv) {
      case 1: row_times_b<V, 1>(g, j0, nlast); break;
      case 2: row_times_b<V, 2>(g, j0, nlast); break;
      case 3: row_times_b<V, 3>(g, j0, nlast); break;
      case 4: row_times_b<V, 4>(g, j0, nlast); break;
      case 5: row_times_b<V, 5>(g, j0, nlast); break;
      case 6: row_times_b<V, 6>(g, j0, nlast); break;
      case 7: row_times_b<V, 7>(g, j0, nlast); break;
      default: row_times_b<V, 8>(g, j0, nlast); break;
    }
  }
}

// ---- narrow products (the ISA files' narrow:: kernels) ---------------------------------------------

// Runs a narrow kernel over the rows of C, split among the threads: each thread packs its own copy
// of B (`size` floats, a multiple of 16 so that the copies share no line) by pack(g, copy) and
// computes its rows [i0, i1) by rows(g, copy, i0, i1).
// NOTE: a copy per thread: reading one written by the other core cost more than the kernel
// (AVX-512, 64x512x12: 12.3 us on 2 threads against 6.0 on one).
// Whether a narrow kernel of at most max_n columns takes this product (the same rule on every ISA
// that has one: see the measurements beside narrow_gemm_wins there). For m < 8 or k < 16 the
// blocked kernel is as fast; k is bounded so that each thread's copy of B stays within L2.
inline bool narrow_takes(const GemmArgs<float>& g, int max_n) {
  return !g.trans_a && g.n <= max_n && g.m >= 8 && g.k >= 16 && g.k <= 8192;
}

template <class K, class Pack, class Rows>
void run_narrow(const GemmArgs<float>& g, int64_t size, Pack&& pack, Rows&& rows) {
  const int nt = gemm_threads<K>(g.m, g.n, g.k);
  // allocated here, where std::bad_alloc still reaches the caller
  static thread_local AlignedBuffer<float> packed;
  float* copies = packed.get(size * nt);
  run_parts(nt, [&](int t) {
    const int64_t i0 = g.m * t / nt, i1 = g.m * (t + 1) / nt;
    if (i0 >= i1) return;
    pack(g, copies + size * t);
    rows(g, copies + size * t, i0, i1);
  });
}

template <class K>
void gemm_blocked(const GemmArgs<typename K::V::T>& g) {
  using T = typename K::V::T;
  constexpr int MR = K::kMR;
  constexpr int L = K::V::kLanes;
  if (g.k <= 0) {
    scale_c(g);
    return;
  }
  const int nt = gemm_threads<K>(g.m, g.n, g.k);
  if (g.m == 1 && !g.trans_b && nt == 1) {
    // NOTE: measured on the RNN benchmark (T=25, N=1, H=100: a 1 x 100 x 100 product per step).
    row_gemm<typename K::V>(g);
    return;
  }
  // One workspace per calling thread, sliced among its OpenMP team: allocated (or grown) here, where
  // std::bad_alloc can still reach the caller, never inside the parallel region.
  static thread_local AlignedBuffer<T> workspace;
  constexpr int64_t per_thread = workspace_per_thread<K>();
  T* work = workspace.get(per_thread * nt);
  if (nt == 1) {
    gemm_one_thread<K>(g, work);
    return;
  }
  const Grid grid = choose_grid<K>(g.m, g.n, nt);
  // parts of about a millisecond or more stay parallel even on oversubscribed cores (run_parts)
  const bool short_parts = static_cast<double>(g.m) * static_cast<double>(g.n) * static_cast<double>(g.k) < 0x1p27 * nt;
  run_parts(nt, [&](int t) {
    const int ti = t / grid.tn;
    const int tj = t % grid.tn;
    const int64_t rows = (g.m + MR - 1) / MR;
    const int64_t cols = (g.n + L - 1) / L;
    const int64_t i0 = std::min(g.m, rows * ti / grid.tm * MR);
    const int64_t i1 = std::min(g.m, rows * (ti + 1) / grid.tm * MR);
    const int64_t j0 = std::min(g.n, cols * tj / grid.tn * L);
    const int64_t j1 = std::min(g.n, cols * (tj + 1) / grid.tn * L);
    if (i0 < i1 && j0 < j1) {
      GemmArgs<T> sub = g;
      sub.m = i1 - i0;
      sub.n = j1 - j0;
      sub.a = g.trans_a ? g.a + i0 : g.a + i0 * g.lda;
      sub.b = g.trans_b ? g.b + j0 * g.ldb : g.b + j0;
      sub.c = g.c + i0 * g.ldc + j0;
      gemm_one_thread<K>(sub, work + per_thread * t);
    }
  }, short_parts);
}

}  // namespace
}  // namespace pk::cpu

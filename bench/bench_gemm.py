from harness import bench_group

test_gemm = bench_group("gemm")

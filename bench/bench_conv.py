from harness import bench_group

test_conv = bench_group("conv")

from harness import bench_group

test_activation = bench_group("activation")

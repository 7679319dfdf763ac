from harness import bench_group

test_pool = bench_group("pool")

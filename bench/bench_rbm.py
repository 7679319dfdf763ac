from harness import bench_group

test_rbm = bench_group("rbm")

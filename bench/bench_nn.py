from harness import bench_group

test_train = bench_group("train")

from harness import bench_group

test_softmax = bench_group("softmax")

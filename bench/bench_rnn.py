from harness import bench_group

test_rnn = bench_group("rnn")

"""What the bench/gpu scripts share: the median time of a GPU call."""
import torch


def timed(fn, reps, warmups=1):
    """Median ms of `reps` calls after `warmups` calls, CUDA events."""
    for _ in range(warmups):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]

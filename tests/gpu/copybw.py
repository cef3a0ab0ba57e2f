# Device copy bandwidth (read + write bytes per second of a 4 GiB
# device-to-device copy, median of 10) in GB/s, measured with PyTorch.
import torch

n = 4 << 30
a = torch.empty(n, dtype=torch.uint8, device="cuda")
b = torch.empty_like(a)
for _ in range(3):
    b.copy_(a)
torch.cuda.synchronize()
s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
ts = []
for _ in range(10):
    s.record()
    b.copy_(a)
    e.record()
    torch.cuda.synchronize()
    ts.append(s.elapsed_time(e) / 1e3)
ts.sort()
print("%.1f" % (2 * n / ts[len(ts) // 2] / 1e9))

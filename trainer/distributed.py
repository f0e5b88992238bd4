"""Data parallelism for the trainer under ``torchrun``: the same command line on 1 or N processes."""
from __future__ import annotations

import math
import os

import torch


class Distributed:
    """Data parallelism under ``torchrun`` (WORLD_SIZE > 1): the same command line on 1 or N processes.

    Every rank builds the same networks from the same seed, samples its own crops (seed + rank),
    and averages gradients with an all-reduce after each backward pass, so the weights stay equal
    on every rank (what DistributedDataParallel does, without its hooks: the generator and the
    discriminator are each called several times per step here, which DDP's reducer does not allow
    without extra flags). The effective batch is ``batch * world_size``. Rank 0 alone writes
    checkpoints, samples and the progress bar. NCCL on CUDA, Gloo on the CPU.
    """

    def __init__(self, device: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.enabled = self.world > 1
        self._owns_group = False
        self.device = device
        if self.enabled:
            import torch.distributed as dist
            if device.startswith("cuda"):
                self.device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
                torch.cuda.set_device(self.device)
            self._owns_group = not dist.is_initialized()
            if self._owns_group:
                dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def average_gradients(self, module: torch.nn.Module) -> None:
        if not self.enabled:
            return
        import torch.distributed as dist
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if grads:
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat)
            flat /= self.world
            offset = 0
            for g in grads:
                g.copy_(flat[offset:offset + g.numel()].view_as(g))
                offset += g.numel()

    def average_buffers(self, module: torch.nn.Module) -> None:
        """BatchNorm running statistics differ per rank (own crops): average them before they are saved."""
        if not self.enabled:
            return
        import torch.distributed as dist
        for buffer in module.buffers():
            if buffer.is_floating_point():
                dist.all_reduce(buffer)
                buffer /= self.world

    def all_finite(self, values) -> bool:
        """True only if every rank's values are finite: ranks stop together, none waits on a dead peer."""
        ok = all(math.isfinite(v) for v in values)
        if not self.enabled:
            return ok
        import torch.distributed as dist
        flag = torch.tensor([0.0 if ok else 1.0], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return flag.item() == 0.0

    def replica_spread(self, *modules: torch.nn.Module) -> float:
        """The largest difference of any weight between ranks (0.0 when they are in step, as the
        averaged gradients keep them). Collective: every rank calls it; cheap for generators this size."""
        if not self.enabled:
            return 0.0
        import torch.distributed as dist
        flat = torch.cat([t.detach().reshape(-1).float() for m in modules for t in m.state_dict().values()
                          if t.is_floating_point()])
        high, low = flat.clone(), flat.clone()
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
        return float((high - low).max())

    def gather(self, value: float) -> list[float]:
        """One number from every rank, in rank order (collective)."""
        if not self.enabled:
            return [value]
        import torch.distributed as dist
        values = torch.zeros(self.world, dtype=torch.float64, device=self.device)
        values[self.rank] = value
        dist.all_reduce(values)
        return values.tolist()

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist
            dist.barrier()

    def close(self) -> None:
        """Tear down the process group this object created. Left to interpreter exit, Gloo's threads
        can be destroyed while still joinable: "terminate called without an active exception", SIGABRT."""
        if self.enabled and self._owns_group:
            import torch.distributed as dist
            if dist.is_initialized():
                dist.destroy_process_group()

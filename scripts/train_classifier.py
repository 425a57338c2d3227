"""Train the small MNIST classifier behind ganlib.metrics and write its weights into ganlib/assets/.

Usage::

    python scripts/train_classifier.py [--threads 1]   # about 2 min on a 2-core CPU

Trains :class:`ganlib.eval.classifier.MNISTClassifier` on the 4 000 training digits of
:func:`ganlib.eval.classifier.classifier_split` (random shifts of up to 2 px, plus outlier exposure: noise,
blobs, flat greys and pixel-shuffled digits are trained towards a flat softmax), reports its
accuracy on the 1 000 held-out digits, and writes ``mnist_classifier.pt`` (a state_dict) and
``mnist_classifier.json`` (accuracy, seeds, SHA-256, held-out indices). Then set
``CLASSIFIER_SHA256`` in ganlib/eval/classifier.py to the printed hash. The same seed, thread count and
torch build give the same bytes; other machines may differ in the last bits.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from ganlib import load_mnist, seed_everything
from ganlib.core.utils import file_sha256
from ganlib.eval.classifier import CLASSIFIER_PATH, CLASSIFIER_SPLIT_SEED, MNISTClassifier, classifier_split

EPOCHS = 30          # passes over the 4 000 training digits
BATCH_SIZE = 64
LR = 2e-3            # peak learning rate of the one-cycle schedule (warm-up, then cosine decay)
WEIGHT_DECAY = 1e-4
MAX_SHIFT = 2        # random translation of up to this many pixels each way
TRAIN_SEED = 0       # seeds the initialization, the batches and the shifts
BACKGROUND = -1.0    # pixel value of empty paper in [-1, 1] images
OUTLIERS = 32        # non-digit images per batch for outlier exposure
OE_WEIGHT = 0.5      # weight of the outlier loss (Hendrycks et al., 2019 use 0.5)


def random_shift(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Shift every image ``(B, 1, 28, 28)`` by its own random offset in [-MAX_SHIFT, MAX_SHIFT]^2."""
    b, _, h, w = x.shape
    padded = F.pad(x, (MAX_SHIFT,) * 4, value=BACKGROUND)                       # (B, 1, 32, 32)
    dy, dx = torch.randint(0, 2 * MAX_SHIFT + 1, (2, b, 1), generator=generator)
    rows = (dy + torch.arange(h))[:, :, None]                                   # (B, 28, 1)
    cols = (dx + torch.arange(w))[:, None, :]                                   # (B, 1, 28)
    return padded[torch.arange(b)[:, None, None], 0, rows, cols].unsqueeze(1)  # (B, 1, 28, 28)


def outliers(n: int, digits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``n`` non-digits ``(n, 1, 28, 28)``: noise, smooth blobs, flat greys, digits with shuffled pixels.

    The classifier learns to answer these with a flat softmax (outlier exposure, Hendrycks et al.,
    2019), so the noise, blobs and blank pages of an untrained generator are not confidently
    called a digit.
    """
    k = n // 4
    noise = torch.rand(k, 1, 28, 28, generator=generator) * 2 - 1
    coarse = torch.rand(k, 1, 7, 7, generator=generator) * 2 - 1
    blobs = F.interpolate(coarse, size=28, mode="bilinear", align_corners=False)
    level = torch.rand(k, 1, 1, 1, generator=generator) * 2 - 1
    grain = 0.1 * torch.rand(k, 1, 1, 1, generator=generator)               # noise std up to 0.1
    flat = level + grain * torch.randn(k, 1, 28, 28, generator=generator)
    pick = digits[torch.randint(len(digits), (n - 3 * k,), generator=generator)].flatten(1)
    perm = torch.argsort(torch.rand(pick.shape, generator=generator), dim=1)
    shuffled = pick.gather(1, perm).view(-1, 1, 28, 28)
    return torch.cat([noise, blobs, flat.clamp(-1, 1), shuffled])


@torch.no_grad()
def accuracy(model: MNISTClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return (model(x).argmax(1) == y).double().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--out", default=str(CLASSIFIER_PATH), help="weights file to write")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads; 0 = torch's default")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    generator = seed_everything(TRAIN_SEED)
    x, y = load_mnist()
    train_idx, heldout_idx = classifier_split(y, seed=CLASSIFIER_SPLIT_SEED)
    x_train, y_train = x[train_idx], y[train_idx]

    model = MNISTClassifier()
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    steps_per_epoch = -(-len(x_train) // BATCH_SIZE)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=args.epochs * steps_per_epoch)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        for i in range(0, len(order), BATCH_SIZE):
            batch = order[i:i + BATCH_SIZE]
            digits = random_shift(x_train[batch], generator)
            logits = model(torch.cat([digits, outliers(OUTLIERS, x_train, generator)]))
            # digits: cross-entropy with the label; outliers: cross-entropy with the uniform label
            loss = F.cross_entropy(logits[:len(batch)], y_train[batch]) \
                - OE_WEIGHT * logits[len(batch):].log_softmax(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {epoch + 1:2d}/{args.epochs}  loss {loss.item():.4f}  "
              f"{time.perf_counter() - start:5.1f} s", flush=True)
    seconds = time.perf_counter() - start

    train_acc = accuracy(model, x_train, y_train)
    heldout_acc = accuracy(model, x[heldout_idx], y[heldout_idx])
    torch.save(model.state_dict(), args.out)
    sha = file_sha256(args.out)
    record = {"heldout_accuracy": heldout_acc, "train_accuracy": train_acc,
              "split_seed": CLASSIFIER_SPLIT_SEED, "train_seed": TRAIN_SEED, "epochs": args.epochs,
              "train_seconds": round(seconds, 1), "threads": torch.get_num_threads(),
              "torch": torch.__version__, "sha256": sha}
    text = json.dumps(record, indent=1)[:-2]  # the 1 000 indices go on one line, not 1 000
    text += f',\n "heldout_indices": {json.dumps(heldout_idx.tolist())}\n}}\n'
    with open(str(args.out).removesuffix(".pt") + ".json", "w") as f:
        f.write(text)
    print(f"held-out accuracy {heldout_acc:.4f} on {len(heldout_idx)} digits "
          f"(train {train_acc:.4f}); trained in {seconds:.0f} s")
    print(f"wrote {args.out}\nCLASSIFIER_SHA256 = \"{sha}\"")


if __name__ == "__main__":
    main()

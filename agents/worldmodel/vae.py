"""V: the convolutional variational autoencoder of Ha & Schmidhuber, "World Models" (2018).

64 × 64 × 3 frames → four 4 × 4 convolutions of stride 2 (ReLU) → μ, log σ² of z; the decoder
maps z through a dense layer and four transposed convolutions (kernels 5, 5, 6, 6; stride 2) back
to a 64 × 64 × 3 image in [0, 1] (sigmoid). With the paper's channels (32, 64, 128, 256) and
z ∈ R^32 this is the paper's network, 4,348,547 parameters.

Loss per frame (the paper's): squared error summed over pixels plus the KL divergence to N(0, I)
floored at ``kl_tolerance · z_dim`` nats ("free bits", so V is not pushed to forget detail the
controller needs).

Example:
    >>> vae = ConvVAE(z_dim=32)
    >>> mu, logvar = vae.encode(torch.zeros(5, 3, 64, 64))
    >>> mu.shape
    torch.Size([5, 32])
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class ConvVAE(nn.Module):
    """Conv encoder → (μ, log σ²) of z; deconv decoder z → image in [0, 1].

    Args:
        z_dim: Latent size.
        channels: Channels of the four encoder convolutions (the decoder mirrors them).
        kl_tolerance: Free bits per latent dimension (nats).
    """

    def __init__(
        self,
        z_dim: int = 32,
        channels: tuple[int, ...] = (32, 64, 128, 256),
        kl_tolerance: float = 0.5,
    ) -> None:
        super().__init__()
        c1, c2, c3, c4 = channels
        self.z_dim = z_dim
        self.kl_tolerance = kl_tolerance
        self.encoder = nn.Sequential(
            nn.Conv2d(3, c1, 4, stride=2), nn.ReLU(),
            nn.Conv2d(c1, c2, 4, stride=2), nn.ReLU(),
            nn.Conv2d(c2, c3, 4, stride=2), nn.ReLU(),
            nn.Conv2d(c3, c4, 4, stride=2), nn.ReLU(),
            nn.Flatten(),
        )  # fmt: skip
        flat = 4 * c4  # 64 → 31 → 14 → 6 → 2: a 2 × 2 × c4 map
        self.mu = nn.Linear(flat, z_dim)
        self.logvar = nn.Linear(flat, z_dim)
        self.expand = nn.Linear(z_dim, flat)
        self.decoder = nn.Sequential(
            nn.Unflatten(1, (flat, 1, 1)),
            nn.ConvTranspose2d(flat, c3, 5, stride=2), nn.ReLU(),
            nn.ConvTranspose2d(c3, c2, 5, stride=2), nn.ReLU(),
            nn.ConvTranspose2d(c2, c1, 6, stride=2), nn.ReLU(),
            nn.ConvTranspose2d(c1, 3, 6, stride=2), nn.Sigmoid(),
        )  # fmt: skip

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, 64, 64) images in [0, 1] → μ and log σ², each (B, z_dim)."""
        features = self.encoder(images)
        return self.mu(features), self.logvar(features)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, z_dim) latents → (B, 3, 64, 64) images in [0, 1]."""
        return self.decoder(self.expand(z))

    def forward(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction of ``images`` through a sampled z, with μ and log σ²."""
        mu, logvar = self.encode(images)
        # drawn on the CPU generator whatever the device: the same noise on every machine
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps
        return self.decode(z), mu, logvar

    def loss(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """``loss`` = reconstruction + floored KL, both means over the batch of per-frame sums."""
        recon, mu, logvar = self(images, generator)
        return vae_loss(images, recon, mu, logvar, self.kl_tolerance)


def vae_loss(
    images: torch.Tensor,
    recon: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    kl_tolerance: float,
) -> dict[str, torch.Tensor]:
    """The paper's VAE loss; ``kl`` is the unfloored KL (for logging), ``loss`` what is minimised.

    Per frame: ``sum((x - x̂)²) + max(KL(N(μ, σ²) ‖ N(0, I)), kl_tolerance · z_dim)``, averaged
    over the batch.
    """
    reconstruction = (images - recon).pow(2).flatten(1).sum(1).mean()
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
    floor = kl_tolerance * mu.shape[1]
    return {
        "loss": reconstruction + torch.clamp(kl, min=floor),
        "reconstruction": reconstruction,
        "kl": kl,
    }


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 frames (B, 64, 64, 3) → float32 (B, 3, 64, 64) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)


def to_frames(images: torch.Tensor) -> np.ndarray:
    """float (B, 3, 64, 64) in [0, 1] → uint8 frames (B, 64, 64, 3)."""
    return (images.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()

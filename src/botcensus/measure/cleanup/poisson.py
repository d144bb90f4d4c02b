"""The Poisson log-linear fit the decay (cleanup.decay) and the bend test (cleanup.bend)
share: Newton-Raphson on the log-likelihood, and the Pearson over-dispersion."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PoissonFit:
    beta: F64
    mu: F64
    """The fitted means."""
    info: F64
    """The Fisher information at `beta` (its inverse: the coefficients' covariance)."""
    converged: bool

    def dispersion(self, y: F64) -> float:
        """max(1, Pearson χ² / (n − coefficients)); needs more points than coefficients."""
        free = len(y) - len(self.beta)
        return max(1.0, float(np.sum((y - self.mu) ** 2 / self.mu)) / free)


def poisson_fit(x: F64, y: F64, beta: F64, steps: int = 100) -> PoissonFit:
    """Fit log E[y] = x @ beta from the starting `beta`. Raises numpy's LinAlgError where
    the information is singular."""
    converged = False
    for _ in range(steps):
        mu = np.exp(x @ beta)
        info = x.T @ (x * mu[:, None])
        step = np.linalg.solve(info, x.T @ (y - mu))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            converged = True
            break
    mu = np.exp(x @ beta)
    return PoissonFit(beta, mu, x.T @ (x * mu[:, None]), converged)

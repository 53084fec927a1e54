"""The Catch game of Mnih, Heess, Graves & Kavukcuoglu, "Recurrent Models of Visual Attention"
(NIPS 2014), Section 4.2.

A ball falls from the top row of a ``size × size`` binary screen (24 × 24 in the paper), one row
per step, and the agent moves a paddle along the bottom row to catch it. The episode ends when the
ball reaches the bottom row: +1 if the paddle is under it, -1 if not (``miss_reward``; the paper
counts catches, which ``miss_reward=0.0`` reproduces); every other step gives 0. An episode
therefore lasts ``size - 1`` steps.

Choices (documented): the ball starts in a uniformly random column; with ``drift=True`` (default,
the paper's "random angle") it also moves by a random horizontal velocity in {-1, 0, +1} columns
per step, bouncing off the side walls; ``drift=False`` makes it fall straight down. The paddle is
``paddle_width`` pixels wide (default 2), starts centred, and moves one pixel per step (actions 0
left, 1 stay, 2 right; clipped at the walls); the paddle moves before the ball. Observations are
float32 ``(size, size)`` arrays of 0.0 and 1.0 (ball and paddle pixels on); a glimpse sensor or a
flattening wrapper turns them into network inputs.

Example:
    >>> import gymnasium as gym
    >>> import evorl.envs  # registers the ids
    >>> env = gym.make("evorl/Catch-v0")
    >>> obs, _ = env.reset(seed=0)
    >>> obs.shape
    (24, 24)
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .render import upscale


class CatchEnv(gym.Env):
    """Catch a falling ball with a paddle (Mnih et al. 2014).

    Args:
        size: Screen height and width in pixels (paper: 24).
        paddle_width: Paddle width in pixels (2 or 3 are usual).
        drift: Random horizontal ball velocity in {-1, 0, 1} with wall bounces.
        miss_reward: Reward for a missed ball (paper's score counts catches; -1 here by default).
        render_mode: ``None`` or ``"rgb_array"``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        size: int = 24,
        paddle_width: int = 2,
        drift: bool = True,
        miss_reward: float = -1.0,
        render_mode: str | None = None,
    ) -> None:
        if size < 3 or not 1 <= paddle_width < size:
            raise ValueError(f"bad size/paddle_width: {size}, {paddle_width}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"unsupported render_mode {render_mode!r}")
        self.size = int(size)
        self.paddle_width = int(paddle_width)
        self.drift = drift
        self.miss_reward = float(miss_reward)
        self.render_mode = render_mode
        self.observation_space = spaces.Box(0.0, 1.0, shape=(size, size), dtype=np.float32)
        self.action_space = spaces.Discrete(3)
        self.ball_row = 0
        self.ball_col = 0
        self.ball_vx = 0
        self.paddle = 0  # leftmost paddle column

    def _obs(self) -> np.ndarray:
        screen = np.zeros((self.size, self.size), dtype=np.float32)
        screen[self.size - 1, self.paddle : self.paddle + self.paddle_width] = 1.0
        screen[self.ball_row, self.ball_col] = 1.0
        return screen

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Drops a new ball from a random column of the top row; the paddle is centred."""
        super().reset(seed=seed)
        self.ball_row = 0
        self.ball_col = int(self.np_random.integers(self.size))
        self.ball_vx = int(self.np_random.integers(-1, 2)) if self.drift else 0
        self.paddle = (self.size - self.paddle_width) // 2
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Moves the paddle, then the ball; scores when the ball reaches the bottom row."""
        action = int(action)
        if not 0 <= action < 3:
            raise ValueError(f"invalid action {action}")
        self.paddle = min(max(self.paddle + action - 1, 0), self.size - self.paddle_width)
        col = self.ball_col + self.ball_vx
        if not 0 <= col < self.size:  # bounce off a side wall
            self.ball_vx = -self.ball_vx
            col = self.ball_col + self.ball_vx
        self.ball_col = col
        self.ball_row += 1
        terminated = self.ball_row == self.size - 1
        reward = 0.0
        info: dict[str, Any] = {}
        if terminated:
            caught = self.paddle <= self.ball_col < self.paddle + self.paddle_width
            reward = 1.0 if caught else self.miss_reward
            info["caught"] = caught
        return self._obs(), reward, terminated, False, info

    def landing_column(self) -> int:
        """The column in which the ball will reach the bottom row (wall bounces included)."""
        col, vx = self.ball_col, self.ball_vx
        for _ in range(self.ball_row, self.size - 1):
            if not 0 <= col + vx < self.size:
                vx = -vx
            col += vx
        return col

    def render(self) -> np.ndarray | None:
        """The screen upscaled 10×: ball red, paddle white on black."""
        if self.render_mode is None:
            return None
        frame = np.zeros((self.size, self.size, 3), dtype=np.uint8)
        frame[self.size - 1, self.paddle : self.paddle + self.paddle_width] = 255
        frame[self.ball_row, self.ball_col] = (255, 60, 60)
        return upscale(frame, 10)

"""Take cover: dodge falling fireballs, scored by time survived — a cheap pixel task in the spirit
of the VizDoom "take cover" experiment of Ha & Schmidhuber, "World Models" (2018).

The agent is a bar on the floor of a 64 × 64 RGB screen. Fireballs appear at random points of the
top row, each aimed at where the agent stands when it appears, and fly in a straight line at a
random speed. A fireball that touches the agent costs one point of health and disappears; the
episode terminates when health reaches 0. Reward is +1 per step survived (the registered id adds
a 1,000-step time limit). Actions: 0 left, 1 stay, 2 right.

Standing still loses (every fireball is aimed), so the task rewards reading the screen: where the
fireballs are and where they are heading. Observations are ``uint8`` (64, 64, 3) frames, rendered
with numpy slicing only, so one env runs at tens of thousands of steps per second.

Example:
    >>> env = TakeCoverEnv()
    >>> obs, _ = env.reset(seed=0)
    >>> obs.shape, obs.dtype
    ((64, 64, 3), dtype('uint8'))
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

SIZE = 64
BACKGROUND = np.array([24, 24, 40], np.uint8)
FLOOR = np.array([70, 60, 50], np.uint8)
AGENT = np.array([60, 220, 90], np.uint8)
FIREBALL = np.array([250, 80, 40], np.uint8)
AGENT_WIDTH = 10
AGENT_TOP, AGENT_BOTTOM = 54, 60  # rows the agent occupies: [AGENT_TOP, AGENT_BOTTOM)
RADIUS = 3


class TakeCoverEnv(gym.Env):
    """Dodge aimed fireballs on a 64 × 64 × 3 screen; reward 1 per step survived.

    Args:
        spawn_prob: Chance per step that a new fireball appears (while fewer than ``max_balls``
            are in flight).
        max_balls: Most fireballs in flight at once.
        speed: (low, high) fireball speed in pixels per step, drawn uniformly per fireball.
        agent_speed: Pixels the agent moves per step.
        health: Hits the agent survives, minus one.
        render_mode: ``None`` or ``"rgb_array"`` (the observation frame).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(
        self,
        spawn_prob: float = 0.05,
        max_balls: int = 4,
        speed: tuple[float, float] = (1.0, 1.8),
        agent_speed: float = 3.0,
        health: int = 3,
        render_mode: str | None = None,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"unsupported render_mode {render_mode!r}")
        if not 0.0 <= spawn_prob <= 1.0 or max_balls < 1 or health < 1:
            raise ValueError("need 0 <= spawn_prob <= 1, max_balls >= 1, health >= 1")
        self.spawn_prob = float(spawn_prob)
        self.max_balls = int(max_balls)
        self.speed = (float(speed[0]), float(speed[1]))
        self.agent_speed = float(agent_speed)
        self.max_health = int(health)
        self.render_mode = render_mode
        self.observation_space = spaces.Box(0, 255, shape=(SIZE, SIZE, 3), dtype=np.uint8)
        self.action_space = spaces.Discrete(3)
        self.agent_x = 0.0  # left edge of the agent
        self.health = self.max_health
        self.balls = np.zeros((0, 4))  # rows of x, y, vx, vy (centres, pixels)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.agent_x = (SIZE - AGENT_WIDTH) / 2
        self.health = self.max_health
        self.balls = np.zeros((0, 4))
        return self._frame(), {"health": self.health}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(f"invalid action {action!r}; expected 0, 1 or 2")
        move = (int(action) - 1) * self.agent_speed
        self.agent_x = float(np.clip(self.agent_x + move, 0.0, SIZE - AGENT_WIDTH))
        if len(self.balls) < self.max_balls and self.np_random.random() < self.spawn_prob:
            self._spawn()
        balls = self.balls
        balls[:, :2] += balls[:, 2:]
        hit = self._hits(balls)
        self.health -= int(hit.sum())
        self.balls = balls[~hit & (balls[:, 1] < SIZE + RADIUS)]
        terminated = self.health <= 0
        return self._frame(), 1.0, terminated, False, {"health": self.health}

    def render(self) -> np.ndarray | None:
        return self._frame() if self.render_mode == "rgb_array" else None

    def _spawn(self) -> None:
        x = self.np_random.uniform(RADIUS, SIZE - RADIUS)
        target = self.agent_x + AGENT_WIDTH / 2 + self.np_random.normal(0.0, 2.0)
        dx, dy = target - x, (AGENT_TOP + AGENT_BOTTOM) / 2 - RADIUS
        speed = self.np_random.uniform(*self.speed)
        scale = speed / np.hypot(dx, dy)
        ball = np.array([[x, RADIUS, dx * scale, dy * scale]])
        self.balls = np.concatenate([self.balls, ball])

    def _hits(self, balls: np.ndarray) -> np.ndarray:
        centre = self.agent_x + AGENT_WIDTH / 2
        near_x = np.abs(balls[:, 0] - centre) < AGENT_WIDTH / 2 + RADIUS
        near_y = (balls[:, 1] + RADIUS > AGENT_TOP) & (balls[:, 1] - RADIUS < AGENT_BOTTOM)
        return near_x & near_y

    def _frame(self) -> np.ndarray:
        frame = np.empty((SIZE, SIZE, 3), np.uint8)
        frame[:] = BACKGROUND
        frame[AGENT_BOTTOM:] = FLOOR
        left = round(self.agent_x)
        frame[AGENT_TOP:AGENT_BOTTOM, left : left + AGENT_WIDTH] = AGENT
        for x, y in self.balls[:, :2]:
            cx, cy = round(x), round(y)
            frame[
                max(cy - RADIUS, 0) : max(cy + RADIUS + 1, 0),
                max(cx - RADIUS, 0) : max(cx + RADIUS + 1, 0),
            ] = FIREBALL
        return frame

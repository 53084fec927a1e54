"""The T-maze memory task of Bakker (NIPS 2001 / 2002), as used by Wierstra et al. (2007).

The agent starts at the west end (position 0) of a corridor and must walk ``corridor_length``
steps east to a T-junction, then turn north or south. Which arm holds the goal is shown only by the
observation at the start position, so the agent has to remember it across the corridor — a
long-term dependency whose length is the corridor length.

Observations (Bakker's 3-bit codes, float32):

==================================  ==========
start, goal north                   ``011``
start, goal south                   ``110``
corridor (positions 1 .. N-1)       ``101``
T-junction (position N)             ``010``
==================================  ==========

The cue belongs to the start location: walking back to position 0 shows it again (Bakker's maze
is a place, not a timed signal).

Actions (Bakker's four moves): 0 = north, 1 = east, 2 = south, 3 = west.

Rewards (Bakker; also Wierstra et al. 2007): +4 for entering the goal arm, -0.1 for entering the
other arm (both end the episode, ``terminated``), -0.1 for bumping into a wall (the agent stays
where it is: north/south in the corridor, west at the start, east at the junction), 0 for every
other move (Bakker: -.1 "when it stands still", no other per-step cost; some re-implementations
charge -0.1 for every step instead, which ``step_reward=-0.1`` gives). Episodes are truncated after
``max_steps`` steps (default ``4 · (corridor_length + 1)``, an evorl choice; Bakker states no
limit) so that a dithering policy cannot run forever.

Example:
    >>> import gymnasium as gym
    >>> import evorl.envs  # registers the ids
    >>> env = gym.make("evorl/TMaze-v0", corridor_length=20)
    >>> obs, _ = env.reset(seed=0)
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .render import upscale

NORTH, EAST, SOUTH, WEST = 0, 1, 2, 3
CUE_NORTH = np.array([0, 1, 1], dtype=np.float32)
CUE_SOUTH = np.array([1, 1, 0], dtype=np.float32)
CORRIDOR = np.array([1, 0, 1], dtype=np.float32)
JUNCTION = np.array([0, 1, 0], dtype=np.float32)


class TMazeEnv(gym.Env):
    """Bakker's T-maze with a corridor of ``corridor_length`` steps.

    Args:
        corridor_length: Steps from the start to the junction (Bakker: 5 to 70; any N >= 1).
        max_steps: Truncation limit; default ``4 · (corridor_length + 1)``.
        goal_reward: Reward for the correct arm (Bakker: 4).
        wrong_reward: Reward for the wrong arm (Bakker: -0.1).
        wall_reward: Reward for a move into a wall (Bakker: -0.1).
        step_reward: Reward for any other move (Bakker: 0).
        render_mode: ``None`` or ``"rgb_array"``.

    The goal arm is drawn from ``np_random`` at reset, or fixed by ``reset(options={"goal":
    0 | 1})`` (0 north, 1 south).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        corridor_length: int = 10,
        max_steps: int | None = None,
        goal_reward: float = 4.0,
        wrong_reward: float = -0.1,
        wall_reward: float = -0.1,
        step_reward: float = 0.0,
        render_mode: str | None = None,
    ) -> None:
        if corridor_length < 1:
            raise ValueError(f"corridor_length must be >= 1, got {corridor_length}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"unsupported render_mode {render_mode!r}")
        self.corridor_length = int(corridor_length)
        self.max_steps = 4 * (self.corridor_length + 1) if max_steps is None else int(max_steps)
        self.goal_reward = float(goal_reward)
        self.wrong_reward = float(wrong_reward)
        self.wall_reward = float(wall_reward)
        self.step_reward = float(step_reward)
        self.render_mode = render_mode
        self.observation_space = spaces.Box(0.0, 1.0, shape=(3,), dtype=np.float32)
        self.action_space = spaces.Discrete(4)
        self.position = 0
        self.goal = 0
        self.arm: int | None = None  # arm entered at the end (0 north, 1 south)
        self._steps = 0

    def _obs(self) -> np.ndarray:
        if self.position == 0:
            return (CUE_NORTH if self.goal == 0 else CUE_SOUTH).copy()
        if self.position == self.corridor_length:
            return JUNCTION.copy()
        return CORRIDOR.copy()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Puts the agent at the start; the goal arm is random unless ``options["goal"]``."""
        super().reset(seed=seed)
        goal = None if options is None else options.get("goal")
        self.goal = int(self.np_random.integers(2)) if goal is None else int(goal)
        if self.goal not in (0, 1):
            raise ValueError(f"goal must be 0 (north) or 1 (south), got {goal}")
        self.position = 0
        self.arm = None
        self._steps = 0
        return self._obs(), {"goal": self.goal}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Moves one cell (or bumps into a wall); entering an arm ends the episode."""
        action = int(action)
        if not 0 <= action < 4:
            raise ValueError(f"invalid action {action}")
        self._steps += 1
        terminated = False
        at_junction = self.position == self.corridor_length
        if at_junction and action in (NORTH, SOUTH):
            self.arm = 0 if action == NORTH else 1
            terminated = True
            reward = self.goal_reward if self.arm == self.goal else self.wrong_reward
        elif action == EAST and not at_junction:
            self.position += 1
            reward = self.step_reward
        elif action == WEST and self.position > 0:
            self.position -= 1
            reward = self.step_reward
        else:
            reward = self.wall_reward
        truncated = self._steps >= self.max_steps
        info = {"success": self.arm == self.goal} if terminated else {}
        return self._obs(), reward, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        """The maze as a ``(3·16, (N+1)·16, 3)`` uint8 frame: walls dark, goal green, agent red."""
        if self.render_mode is None:
            return None
        n = self.corridor_length
        grid = np.full((3, n + 1, 3), 40, dtype=np.uint8)
        grid[1, :] = 230
        grid[0, n] = grid[2, n] = 230
        grid[0 if self.goal == 0 else 2, n] = (60, 200, 60)
        grid[1, 0] = (120, 120, 240)
        row = 1 if self.arm is None else (0 if self.arm == 0 else 2)
        col = n if self.arm is not None else self.position
        grid[row, col] = (220, 40, 40)
        return upscale(grid, 16)

"""World models (Ha & Schmidhuber 2018): V (VAE) + M (MDN-RNN) + C (evolved controller).

Modules, in pipeline order: :mod:`.collect` (rollouts → shards, :mod:`.shards` streams them),
:mod:`.vae` (V), :mod:`.mdnrnn` (M), :mod:`.train` (training both, resumable), :mod:`.dream_env`
(M as a Gymnasium env), :mod:`.real_env` (the real env seen through V and M), :mod:`.evolve` (C by
evorl's trainer and optimizers), :mod:`.pipeline` (the stages), :mod:`.pictures`, :mod:`.cli`
(``evorl wm``). Presets live in ``presets/``.
"""

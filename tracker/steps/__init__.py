"""The steps of the tracking loop (``SiamFCMultiTracker.update``), one module each.

A frame goes through them in this order:

- ``features.py``: the network prepared for inference, crops in, features out;
- the step of the network: ``scale_search.py`` (SiamFC's search over S scales, with
  ``response.py``'s upsampled, windowed peak and, with ``distractors``, ``distractors.py``'s
  look-alike memory; or one crop and ``scale_filter.py``'s DSST scale filter) or ``box.py`` (one crop, the box regressed, ``regression.py``'s pure
  functions and the first-frame calibration); each returns a ``StepOutcome`` (``outcome.py``);
  both add the response of ``online.py``'s target model (a correlation filter per target,
  learned while tracking) to the siamese one before the peak is taken;
- ``scoring.py``: the response cues against each target's own reference, read by the score
  model;
- ``online.py`` again: the filters learn from the confidently tracked frames;
- ``lost.py``: the lost state; ``redetect.py``: the wide search for a lost target.

A step reads the target state (``targets.Targets``) and returns what it found; the tracker
writes the state back, so the loop in ``siamfc.py`` shows every change of state.
"""

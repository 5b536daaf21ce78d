"""Refiner service: refinement (Suggester -> Editor) and the teacher's answer, `instructions` -> `candidates`."""

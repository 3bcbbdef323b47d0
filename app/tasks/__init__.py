"""Tasks: long work carried through step by step by workers, under the same rules as a chat."""

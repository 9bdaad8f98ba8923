"""Placeholder: the replay command is being written."""


def add_arguments(parser):
    pass


def run(args, settings):
    raise SystemExit("not implemented yet")

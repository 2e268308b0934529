"""The chaos suite. The durabench pytest plugin (installed with the package) provides the fixtures
``trials`` and ``seed`` and the options ``--env --sut --seeds --results --trial-timeout``."""

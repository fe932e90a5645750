"""Energy-metered hyperparameter search studies.

Map of the package (arrows are the only imports allowed between parts):

    __main__   Hydra entry point: compose, validate, call ``study.run``      -> config, study, storage, sweep
    config/    the configuration: a typed schema per option of each group (registered in Hydra's
               ConfigStore), which checks itself, gives its part of the study's fingerprint and
               builds its object (sampler, meter, data set, network); one-line validation
               -> search, energy, data, models
    study      the round loop, resume, trial records
               -> rounds, replay, search, train, energy, data, models, records, storage, workers, atomic
    rounds     the round seam: params and a round number in, accuracies and joules out; live training
               -> config, energy, search, train
    replay     the other side of the seam: a round looked up in a table of measured rounds
               -> config, energy, search, train, rounds
    table      harness-table: a table build is a study of strategy=table, exported to Parquet
               -> atomic, config, records, rounds, replay, storage, study, workers
    workers    several workers on one study: round claims, heartbeats, abandoned rounds
               -> records, energy
    storage    opening SQLite, journal and database-server storages        -> workers
    sweep      a Hydra callback: a sweep goes on past failed jobs and lists them
    atomic     whole-or-nothing files and whole appended lines
    train      one trial: train the model it is given with Adam, evaluate   -> models, data
    models     DensePolyNN, DenseLinearNN, SimpleCNN (paper definitions)
    data/      digits, fashion_mnist, cifar10, synthetic; file formats, checksums
    energy/    Measurement, Meter; estimate, rapl, nvml, auto; harness-meter
    search/    spaces (ranges -> distributions and grids), samplers beyond Optuna's (scikit-optimize),
               a table's candidate set and the samplers that use it
    records    the trials.csv contract: column names, writing and reading rows    -> atomic
    machine    what a study ran on (host, CPU, threads, torch, GPUs, meters)     -> energy
    report/    reducer, metrics, plots, harness-report (reads tables only; never imports torch)
    errors, signals   leaves any part may use: one-line errors; SIGINT and SIGTERM as one line
"""

from __future__ import annotations

__version__ = "0.1.0"

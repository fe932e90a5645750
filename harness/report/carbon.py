"""The grid's carbon intensity: a figure given by the user, the world's average, or a region's.

Regions come from the offline data CodeCarbon maintains and ships with its package (the optional
extra ``carbon``): each country's electricity mix (Our World in Data), and each US state's eGRID
rate. Only its data files are read, never its trackers. Every intensity carries its source and
year, which the report prints beside every CO2e figure.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.report.metrics import DEFAULT_CARBON_G_PER_KWH

G_PER_LB = 453.59237  # the US data give lbs/MWh, which is lbs per 1,000 kWh


@dataclass(frozen=True)
class Intensity:
    g_per_kwh: float
    source: str  # where the figure comes from, with its year


WORLD_2023 = Intensity(
    DEFAULT_CARBON_G_PER_KWH, "the world's average in 2023, Ember's Global Electricity Review 2024"
)


def given(g_per_kwh: float) -> Intensity:
    return Intensity(g_per_kwh, "given with --carbon-intensity")


def _data_dir() -> tuple[Path, str]:
    """CodeCarbon's data folder and version, found without importing it (its trackers pull in much)."""
    spec = importlib.util.find_spec("codecarbon")
    if spec is None or not spec.submodule_search_locations:
        raise HarnessError(
            "--carbon-region reads CodeCarbon's grid data, which is not installed: "
            "pip install -e '.[carbon]' (or give the grid's figure with --carbon-intensity G)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "private_infra"
    return folder, importlib.metadata.version("codecarbon")


def _read(path: Path) -> dict:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        raise HarnessError(f"--carbon-region: cannot read CodeCarbon's {path.name} ({exc})") from exc


def by_region(region: str) -> Intensity:
    """A country by ISO 3166 alpha-3 code or name (``FRA``, ``France``), or a US state as
    ``USA/<state>`` (``USA/california``)."""
    folder, version = _data_dir()
    country, _, state = region.partition("/")
    if state:
        if country.upper() != "USA":
            raise HarnessError(
                f"--carbon-region={region}: regions within a country exist for the USA only "
                "(USA/<state>); give the country alone"
            )
        states = _read(folder / "2023" / "usa_emissions.json")
        source = states.get("_source", {})
        key = state.strip().lower().replace("_", " ")
        if key not in states or key.startswith("_"):
            names = [k for k in states if not k.startswith("_")]
            near = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean USA/{near[0]}?" if near else ""
            raise HarnessError(
                f"--carbon-region={region}: no US state of that name in CodeCarbon's data{hint}"
            )
        g = float(states[key]["emissions"]) * G_PER_LB / 1000.0
        year = source.get("year", "")
        return Intensity(g, f"USA/{key}: {source.get('name', 'EPA eGRID')} {year}, via CodeCarbon {version}")
    countries = _read(folder / "global_energy_mix.json")
    wanted = country.strip()
    code = wanted.upper() if wanted.upper() in countries else None
    if code is None:
        by_name = {str(v.get("country_name", "")).lower(): k for k, v in countries.items()}
        code = by_name.get(wanted.lower())
    if code is None:
        names = [*countries, *(str(v.get("country_name", "")) for v in countries.values())]
        near = difflib.get_close_matches(wanted, names, n=1)
        hint = f"; did you mean {near[0]}?" if near else ""
        raise HarnessError(
            f"--carbon-region={region}: no country of that code or name in CodeCarbon's data "
            f"(ISO 3166 alpha-3 codes such as FRA, or names such as France){hint}"
        )
    entry = countries[code]
    name = entry.get("country_name", code)
    return Intensity(
        float(entry["carbon_intensity"]),
        f"{name} ({code}): Our World in Data energy mix {entry.get('year', '')}, via CodeCarbon {version}",
    )

"""Energy and CO2e around a measurement window with CodeCarbon's offline tracker, with the method it really used."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# CodeCarbon's CPU modes: only RAPL reads a power counter; the others estimate.
CPU_METHODS = {
    "intel_rapl": ("RAPL energy counters", False),
    "windows_emi": ("Windows EMI energy counters", False),
    "intel_power_gadget": ("Intel Power Gadget", False),
    "cpu_load": ("CPU-load estimate (TDP × utilisation)", True),
    "constant": ("TDP constant", True),
}


@dataclass(frozen=True)
class EnergyResult:
    energy_j: float  # CPU + RAM + GPU over the window
    cpu_energy_j: float
    gpu_energy_j: float
    ram_energy_j: float
    emissions_g: float
    queries: int
    seconds: float
    method: str
    estimate: bool

    @property
    def energy_per_1k_queries_j(self) -> float:
        return 1000.0 * self.energy_j / self.queries

    @property
    def co2e_per_1m_inferences_g(self) -> float:
        return 1e6 * self.emissions_g / self.queries


def describe_method(tracker: Any) -> tuple[str, bool]:
    """What CodeCarbon measured with, and whether any part of it is an estimate (RAM power always is)."""
    parts, estimate = [], False
    for hardware in getattr(tracker, "_hardware", []):
        kind = type(hardware).__name__
        if kind == "CPU":
            name, is_estimate = CPU_METHODS.get(
                getattr(hardware, "_mode", ""), (f"unknown CPU mode {hardware!r}", True)
            )
            parts.append(f"CPU: {name}")
            estimate |= is_estimate
        elif kind == "GPU":
            parts.append("GPU: NVML energy counter")
        elif kind == "RAM":
            parts.append("RAM: CodeCarbon's power model (estimate)")
            estimate = True
        else:
            parts.append(f"{kind}: {hardware!r}")
            estimate = True
    return "; ".join(parts) or "no hardware tracked", estimate


def measure_energy(
    run: Callable[[Any], Any],
    inputs: Sequence[Any],
    *,
    seconds: float,
    country_iso_code: str,
    measure_power_secs: float = 1.0,
) -> EnergyResult:
    """Run queries for `seconds` under the tracker; energy is attributed to this process (tracking_mode='process')."""
    import logging

    from codecarbon import OfflineEmissionsTracker

    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    tracker = OfflineEmissionsTracker(
        country_iso_code=country_iso_code,
        measure_power_secs=measure_power_secs,
        tracking_mode="process",
        output_methods=[],  # the suite writes the numbers itself; no emissions.csv in the working directory
        log_level="error",
    )
    tracker.start()
    queries = 0
    start = time.perf_counter()
    try:
        while time.perf_counter() - start < seconds:
            run(inputs[queries % len(inputs)])
            queries += 1
    finally:
        emissions_kg = tracker.stop()
    data = tracker.final_emissions_data
    method, estimate = describe_method(tracker)
    kwh_to_j = 3.6e6
    return EnergyResult(
        energy_j=data.energy_consumed * kwh_to_j,
        cpu_energy_j=data.cpu_energy * kwh_to_j,
        gpu_energy_j=data.gpu_energy * kwh_to_j,
        ram_energy_j=data.ram_energy * kwh_to_j,
        emissions_g=(emissions_kg or 0.0) * 1000.0,
        queries=queries,
        seconds=time.perf_counter() - start,
        method=f"CodeCarbon {getattr(data, 'codecarbon_version', '')} offline, country {country_iso_code}: {method}",
        estimate=estimate,
    )

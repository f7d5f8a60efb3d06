"""Phase 2 cell statistics (python_udfs/phase2.py): every hypothesis with data, measured after
costs, with its HAC t-test and hierarchical shrinkage. A dbt Python model because the HAC variance,
the de-overlap count and the empirical-Bayes pooling are path dependent or need scipy; the work is
vectorised over all cells (no loop over bars)."""


def model(dbt, session):
    dbt.config(materialized="table", tags=["label", "discovery"])
    from python_udfs.event_spec import load_event_catalog
    from python_udfs.phase2 import Phase2Settings, cell_table
    from python_udfs.spec_registry import load_spec

    spec = load_spec()
    gates = spec.get("gates", {}).get("gate_v1_phase2", {})
    settings = Phase2Settings(
        conservative_cost_multiplier=float(gates.get("conservative_cost_multiplier", 1.5)),
        conditioning_states=tuple(spec["global_defaults"]["discovery"]["conditioning_states"]),
    )
    samples = dbt.ref("int_phase2__event_samples").to_arrow_table()
    return cell_table(samples, load_event_catalog(), settings)

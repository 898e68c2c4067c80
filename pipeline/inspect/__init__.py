"""Shard statistics, the stage funnel and plots: what `sluice inspect` reports."""

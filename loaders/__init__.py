"""The edge that reads files for the decision core: scenarios (TOML and CSV), road graphs (GraphML and
the npz caches), the severity model's data and saved model.

``dispatch/`` never imports this package (tests/dispatch/test_purity.py): its modules take what is
read here, already in memory. The entry points (``goldentime``), the simulator, the dashboard and the
benchmarks import it. See docs/architecture.md.
"""

"""``python -m tools.quickstart`` (what ``bash experiments/quickstart.sh`` runs)."""
from .pipeline import main

if __name__ == "__main__":
    main()

from firstapp.fractals.cli import main

raise SystemExit(main())

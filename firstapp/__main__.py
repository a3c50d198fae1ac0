from firstapp.cli import main

raise SystemExit(main())

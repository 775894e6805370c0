from tracet_gui.app import main

raise SystemExit(main())

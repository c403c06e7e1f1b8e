from rd_unet.cli import main

raise SystemExit(main())

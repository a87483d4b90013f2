"""Facts: lift native or specialist depth, masks and poses into metric 3D (tables scenes, objects, cameras)."""

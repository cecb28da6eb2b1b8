"""The kubectl plugin: kubectl visionmodel status|pause|resume|promote|abort NAME."""

"""The reference firmware in an AVR simulator (simavr): build helpers and a board on a pty."""

package main

import (
	"fmt"
	"log/slog"

	sdnotify "github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// notify tells systemd (Type=notify, $NOTIFY_SOCKET) the daemon's state:
// READY=1 once every listener is open, RELOADING=1 then READY=1 around a
// reload, STOPPING=1 at shutdown. Without $NOTIFY_SOCKET it does nothing;
// a failure to send is logged, never fatal.
func notify(log *slog.Logger, state string) {
	if _, err := sdnotify.SdNotify(false, state); err != nil {
		log.Warn("systemd notification not sent", "state", state, "err", err)
	}
}

// reloadingState is RELOADING=1 with the MONOTONIC_USEC= that systemd
// (since 253) wants beside it to match the reload with its READY=1.
func reloadingState() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return sdnotify.SdNotifyReloading
	}
	return fmt.Sprintf("%s\nMONOTONIC_USEC=%d", sdnotify.SdNotifyReloading, ts.Nano()/1000)
}

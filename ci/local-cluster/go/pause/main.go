// Command pause holds a pod's namespaces open: it sleeps until SIGTERM or SIGINT and reaps
// nothing else (the pod's containers run in their own PID namespaces).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
}

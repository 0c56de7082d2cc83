// The pod sandbox ("pause") process for the local test cluster's own pause image.
module tokenplace-relay/local-cluster/pause

go 1.26.0

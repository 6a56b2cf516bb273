// The header fence: every header under lib/ includes this one first. Only libpwgrid's own
// targets and its tests define PWGRID_INTERNAL, so a program outside the library (server/,
// examples/, bench/, a host application) that includes a private header fails to compile here
// instead of depending on something that may change without notice. Use <pwgrid/...> instead.
#ifndef PWGRID_INTERNAL
#error "lib/ headers are private to libpwgrid; include the public <pwgrid/...> headers instead"
#endif

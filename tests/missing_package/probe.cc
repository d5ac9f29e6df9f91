// Built only to fail: its dependency stands for a Debian package that is not installed.
#include "corepy_no_such_package/no_such_header.h"

int main() { return 0; }

# Sourced by the runners: what in a guest's console log counts as a kernel splat.
# BUG/WARNING cover lockdep, sleeping-in-atomic, RCU-usage and refcount reports; a leak is an
# "unreferenced object" from the final kmemleak scan; any "Call Trace:" is a splat too.
SPLAT_RE='BUG:|WARNING:|KASAN:|Oops|Kernel panic|general protection fault|kernel BUG|UBSAN:|RCU stall|detected stalls|rcu: INFO|INFO: task .* blocked|soft lockup|hard LOCKUP|Call Trace:|ODEBUG:|list_(add|del) corruption|DEBUG_LOCKS_WARN_ON|unreferenced object|panicked at'

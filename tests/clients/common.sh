# Shared by the shell drivers (amtctrl.sh, wsl.sh); sourced, not run.
# shellcheck shell=bash disable=SC2034  # the variables are for the sourcing script
#
# parse_driver_args "$@" sets HOST PORT USER_ PASS OP, the array EXTRA (the
# operation's own arguments) and tls (1 with --tls or on port 16993, -1 with
# --no-tls, else 0). It returns 1 when fewer than five positional arguments
# were given.
parse_driver_args() {
    local positional=() a
    tls=0
    for a in "$@"; do
        case "$a" in
            --tls) tls=1 ;;
            --no-tls) tls=-1 ;;
            *) positional+=("$a") ;;
        esac
    done
    [ "${#positional[@]}" -ge 5 ] || return 1
    HOST="${positional[0]}" PORT="${positional[1]}" USER_="${positional[2]}" PASS="${positional[3]}" OP="${positional[4]}"
    EXTRA=("${positional[@]:5}")
    if [ "$tls" = 0 ] && [ "$PORT" = 16993 ]; then tls=1; fi
    return 0
}

# is_loopback HOST: the drivers only ever talk to this machine, unless
# AMT_CLIENTS_ALLOW_REMOTE=1 says otherwise.
is_loopback() {
    case "$1" in
        127.*|localhost|::1) return 0 ;;
        *) [ "${AMT_CLIENTS_ALLOW_REMOTE:-}" = 1 ] ;;
    esac
}

# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_vigil_global_optspecs
    string join \n h/help V/version
end

function __fish_vigil_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_vigil_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_vigil_using_subcommand
    set -l cmd (__fish_vigil_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c vigil -n "__fish_vigil_needs_command" -s h -l help -d 'Print help'
complete -c vigil -n "__fish_vigil_needs_command" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_needs_command" -f -a "scan" -d 'Scan files and folders (recursively) against hash signatures'
complete -c vigil -n "__fish_vigil_needs_command" -f -a "bench" -d 'Measure scan throughput at 1, 2, 4, ... workers beside the machine\'s limits (reading without hashing; hashing on one core)'
complete -c vigil -n "__fish_vigil_needs_command" -f -a "quarantine" -d 'List, show, restore, delete and repair quarantined files (`scan --move`)'
complete -c vigil -n "__fish_vigil_needs_command" -f -a "daemon" -d 'Watch folders and scan what changes, as a service (in the foreground)'
complete -c vigil -n "__fish_vigil_needs_command" -f -a "sigs" -d 'Check, count, write and compile signature databases'
complete -c vigil -n "__fish_vigil_needs_command" -f -a "cache" -d 'Show, prune or clear a verdict cache (`scan --cache`, the daemon\'s `state_dir/cache.redb`)'
complete -c vigil -n "__fish_vigil_needs_command" -f -a "ctl" -d 'Talk to a running `vigil daemon` through its control socket'
complete -c vigil -n "__fish_vigil_needs_command" -f -a "generate" -d 'Write the man pages or the shell completions (bash, zsh, fish) into DIR, generated from these definitions (for packagers)'
complete -c vigil -n "__fish_vigil_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vigil -n "__fish_vigil_using_subcommand scan" -s d -l database -d 'Signature database file or folder; repeat for more. Without any, the built-in set (the EICAR test file) is used. In the daemon, replaces `databases` in the file' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand scan" -s j -l threads -d 'Number of scan workers [default: the number of available cores]' -r
complete -c vigil -n "__fish_vigil_using_subcommand scan" -l io-depth -d 'Files opened and read ahead of the scan workers at most, so that a cold disk has many reads in flight (files found in memory are not read ahead); 0 reads each file only when a worker gets to it [default: automatic, 512 or a quarter of the open files allowed]' -r
complete -c vigil -n "__fish_vigil_using_subcommand scan" -l exclude -d 'Skip files whose name or path matches GLOB; repeat for more' -r
complete -c vigil -n "__fish_vigil_using_subcommand scan" -l exclude-dir -d 'Do not enter folders whose name or path matches GLOB; repeat for more' -r
complete -c vigil -n "__fish_vigil_using_subcommand scan" -l max-filesize -d 'Skip files larger than SIZE (bytes, or with a K, M, G or T suffix, powers of 1024)' -r
complete -c vigil -n "__fish_vigil_using_subcommand scan" -l scan-archive -d 'Look inside archives, compressed files and mail (yes or no) [default: yes]' -r -f -a "true\t''
false\t''"
complete -c vigil -n "__fish_vigil_using_subcommand scan" -l max-recursion -d 'Containers nested deeper than N are not opened [default: 17]' -r
complete -c vigil -n "__fish_vigil_using_subcommand scan" -l max-files -d 'Read at most N members from one container [default: 10000]' -r
complete -c vigil -n "__fish_vigil_using_subcommand scan" -l max-scansize -d 'Unpack at most SIZE bytes per scanned file, all members and depths together [default: 400M]' -r
complete -c vigil -n "__fish_vigil_using_subcommand scan" -l max-db-size -d 'Refuse a signature database that unpacks to more than SIZE (bytes, or with a K, M, G or T suffix; a container counts its whole archive) [default: 2G]' -r
complete -c vigil -n "__fish_vigil_using_subcommand scan" -l max-db-lines -d 'Refuse a signature database of more than N lines [default: 20000000]' -r
complete -c vigil -n "__fish_vigil_using_subcommand scan" -s f -l file-list -d 'Also scan the paths listed in FILE, one per line' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand scan" -l move -d 'Move each detected file into the quarantine folder DIR (made, mode 0700, if missing), with a record to restore it from' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand scan" -l cache -d 'Remember each file\'s digests in FILE (made if missing), and match files unchanged since (same device, inode, size, mtime and ctime) from it without reading them. See docs/cache.md' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand scan" -l metrics-file -d 'When done, write the scan\'s counters to FILE in Prometheus\' text format (atomically; for node_exporter\'s textfile collector)' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand scan" -l follow-symlinks -d 'Follow symbolic links inside folders (loops are detected and reported)'
complete -c vigil -n "__fish_vigil_using_subcommand scan" -s x -l one-file-system -d 'Do not descend into folders on other file systems'
complete -c vigil -n "__fish_vigil_using_subcommand scan" -l alert-exceeds-max -d 'Report a file cut short by a container limit as Heuristics.Limits.Exceeded.<Limit> (a detection)'
complete -c vigil -n "__fish_vigil_using_subcommand scan" -s i -l infected -d 'Print only infected files (no `PATH: OK` lines)'
complete -c vigil -n "__fish_vigil_using_subcommand scan" -l no-summary -d 'Do not print the summary at the end'
complete -c vigil -n "__fish_vigil_using_subcommand scan" -l json -d 'Print JSON lines (detections, errors, summary) instead of text'
complete -c vigil -n "__fish_vigil_using_subcommand scan" -l quiet -d 'Print only error messages (no detections, OK lines, summary or progress); the exit code still tells the result'
complete -c vigil -n "__fish_vigil_using_subcommand scan" -s r -l recursive -d 'Accepted for clamscan compatibility: vigil always scans folders recursively'
complete -c vigil -n "__fish_vigil_using_subcommand scan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vigil -n "__fish_vigil_using_subcommand scan" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand bench" -l corpus -d 'Benchmark this folder (it is only read)' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand bench" -l generate -d 'Generate a corpus of SIZE bytes (K, M, G suffixes), optionally of FILES files, in a temporary folder: many small files, some large, seeded so that the same arguments give the same tree [default: 500M]' -r
complete -c vigil -n "__fish_vigil_using_subcommand bench" -l seed -d 'Seed of the generated corpus' -r
complete -c vigil -n "__fish_vigil_using_subcommand bench" -s j -l threads -d 'Worker counts to measure, comma-separated, e.g. 1,2,4,8 [default: 1, 2, 4, ... up to the number of cores, and the number of cores]. One worker is always measured: it is the baseline for speedup' -r
complete -c vigil -n "__fish_vigil_using_subcommand bench" -l algo -d 'Hash algorithm of the built-in bench signature (one signature of any size that matches nothing, so every byte is hashed)' -r -f -a "blake3\t''
sha256\t''
sha1\t''
md5\t''"
complete -c vigil -n "__fish_vigil_using_subcommand bench" -s d -l database -d 'Scan with these signature databases instead of the bench signature (files whose size no signature has are then not read at all)' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand bench" -l repeat -d 'Timed runs per worker count; the table gives their median, min and max' -r
complete -c vigil -n "__fish_vigil_using_subcommand bench" -l json -d 'Write the results as JSON to FILE' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand bench" -l csv -d 'Write one CSV row per worker count to FILE' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand bench" -l plot -d 'Draw throughput against workers, with the ideal line and the limits, as SVG' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand bench" -l keep -d 'Keep the generated corpus (its path is printed) instead of removing it'
complete -c vigil -n "__fish_vigil_using_subcommand bench" -l cold -l drop-caches -d 'Empty the page cache before every timed run (`sync`, then 3 into /proc/sys/vm/drop_caches), for cold-cache figures: what a first scan from the disk reaches, beside the read-only limit measured cold too (needs root)'
complete -c vigil -n "__fish_vigil_using_subcommand bench" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vigil -n "__fish_vigil_using_subcommand bench" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and not __fish_seen_subcommand_from list show restore delete repair help" -l dir -d 'The quarantine folder [default: /var/lib/vigil/quarantine]' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and not __fish_seen_subcommand_from list show restore delete repair help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and not __fish_seen_subcommand_from list show restore delete repair help" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and not __fish_seen_subcommand_from list show restore delete repair help" -f -a "list" -d 'List the entries, and anything an interrupted move, restore or delete left'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and not __fish_seen_subcommand_from list show restore delete repair help" -f -a "show" -d 'Show one entry\'s record'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and not __fish_seen_subcommand_from list show restore delete repair help" -f -a "restore" -d 'Put a file back with its content, mode, owner and times, and drop the entry'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and not __fish_seen_subcommand_from list show restore delete repair help" -f -a "delete" -d 'Delete an entry for good'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and not __fish_seen_subcommand_from list show restore delete repair help" -f -a "repair" -d 'Finish or undo what an interrupted move, restore or delete left behind'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and not __fish_seen_subcommand_from list show restore delete repair help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from list" -l dir -d 'The quarantine folder [default: /var/lib/vigil/quarantine]' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from list" -l json -d 'One JSON object per line'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from show" -l dir -d 'The quarantine folder [default: /var/lib/vigil/quarantine]' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from show" -l json -d 'As one JSON object'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from restore" -l to -d 'Restore to PATH instead of where the file came from' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from restore" -l dir -d 'The quarantine folder [default: /var/lib/vigil/quarantine]' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from restore" -l force -d 'Replace a file that is already there'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from restore" -l keep-setuid -d 'Give the file back its set-user-ID and set-group-ID bits (dropped by default)'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from restore" -s h -l help -d 'Print help'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from restore" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from delete" -l dir -d 'The quarantine folder [default: /var/lib/vigil/quarantine]' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from delete" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from repair" -l dir -d 'The quarantine folder [default: /var/lib/vigil/quarantine]' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from repair" -s h -l help -d 'Print help'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from repair" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the entries, and anything an interrupted move, restore or delete left'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one entry\'s record'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from help" -f -a "restore" -d 'Put a file back with its content, mode, owner and times, and drop the entry'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Delete an entry for good'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from help" -f -a "repair" -d 'Finish or undo what an interrupted move, restore or delete left behind'
complete -c vigil -n "__fish_vigil_using_subcommand quarantine; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -s c -l config -d 'Configuration file (TOML)' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l max-db-size -d 'Refuse a signature database that unpacks to more than SIZE (bytes, or with a K, M, G or T suffix; a container counts its whole archive) [default: 2G]' -r
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l max-db-lines -d 'Refuse a signature database of more than N lines [default: 20000000]' -r
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -s w -l watch -d 'Folder to watch (recursively); repeat for more. Replaces `watch` in the file' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l guard -d 'Folder to guard: opening or running a detected file under it fails (EPERM); repeat for more. Needs CAP_SYS_ADMIN. Replaces `guard` in the file' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -s d -l database -d 'Signature database file or folder; repeat for more. Without any, the built-in set (the EICAR test file) is used. In the daemon, replaces `databases` in the file' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -s j -l threads -d 'Number of scan workers [default: the number of available cores]' -r
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l io-depth -d 'Files opened and read ahead of the scan workers at most, so that a cold disk has many reads in flight (files found in memory are not read ahead); 0 reads each file only when a worker gets to it [default: automatic, 512 or a quarter of the open files allowed]' -r
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l exclude -d 'Skip files whose name or path matches GLOB; repeat for more' -r
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l exclude-dir -d 'Do not enter folders whose name or path matches GLOB; repeat for more' -r
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l max-filesize -d 'Skip files larger than SIZE (bytes, or with a K, M, G or T suffix, powers of 1024)' -r
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l scan-archive -d 'Look inside archives, compressed files and mail (yes or no) [default: yes]' -r -f -a "true\t''
false\t''"
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l max-recursion -d 'Containers nested deeper than N are not opened [default: 17]' -r
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l max-files -d 'Read at most N members from one container [default: 10000]' -r
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l max-scansize -d 'Unpack at most SIZE bytes per scanned file, all members and depths together [default: 400M]' -r
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l socket -d 'Control socket (clamd protocol, `vigil ctl`); replaces `socket` in the file' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l tcp -d 'Also serve the control protocol on TCP (e.g. 127.0.0.1:3310 or [::1]:3310); replaces `tcp_addr` and `tcp_socket` in the file' -r
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l queue-capacity -d 'Scan requests that may wait in the queue [default: 16 per worker]' -r
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l settle -d 'Quiet time after a file\'s last change before it is scanned (e.g. 250ms, 2s)' -r
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l state-dir -d 'Folder for state: the verdict cache (created by systemd\'s StateDirectory)' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l log-level -d 'Log level or filter (error, warn, info, debug, trace, or a tracing filter)' -r
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l poll-interval -d 'How often a folder that could not be watched (watch limit) is walked (e.g. 60s)' -r
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l action -d 'What to do with a detected file: report it, or move it into the quarantine folder and report that. Replaces `action`' -r -f -a "report\t''
quarantine\t''"
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l quarantine-dir -d 'The quarantine folder [default: STATE_DIR/quarantine, else /var/lib/vigil/quarantine]. Replaces `quarantine_dir`' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l follow-symlinks -d 'Follow symbolic links inside folders (loops are detected and reported)'
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -s x -l one-file-system -d 'Do not descend into folders on other file systems'
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l alert-exceeds-max -d 'Report a file cut short by a container limit as Heuristics.Limits.Exceeded.<Limit> (a detection)'
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l initial-scan -d 'Walk the watched folders at start (the default)'
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -l no-initial-scan -d 'Do not walk the watched folders at start'
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vigil -n "__fish_vigil_using_subcommand daemon" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and not __fish_seen_subcommand_from check stats add import diff compile help" -s h -l help -d 'Print help'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and not __fish_seen_subcommand_from check stats add import diff compile help" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and not __fish_seen_subcommand_from check stats add import diff compile help" -f -a "check" -d 'Load databases and report every fault as FILE:LINE: REASON (exit 1 if any)'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and not __fish_seen_subcommand_from check stats add import diff compile help" -f -a "stats" -d 'Count the signatures of databases: per algorithm, sized and any-size, distinct names, and the memory the loaded set takes'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and not __fish_seen_subcommand_from check stats add import diff compile help" -f -a "add" -d 'Print signature lines (`ALGO:HEX:SIZE:NAME`) for sample files, like `sigtool --sha256`'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and not __fish_seen_subcommand_from check stats add import diff compile help" -f -a "import" -d 'Turn a plain list of hashes (one per line, `#` comments) into `.vsig` lines'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and not __fish_seen_subcommand_from check stats add import diff compile help" -f -a "diff" -d 'What an update changes: signatures added and removed between two sets'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and not __fish_seen_subcommand_from check stats add import diff compile help" -f -a "compile" -d 'Compile databases into one binary index that `-d` maps in place'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and not __fish_seen_subcommand_from check stats add import diff compile help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from check" -l max-db-size -d 'Refuse a signature database that unpacks to more than SIZE (bytes, or with a K, M, G or T suffix; a container counts its whole archive) [default: 2G]' -r
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from check" -l max-db-lines -d 'Refuse a signature database of more than N lines [default: 20000000]' -r
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from check" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from stats" -l max-db-size -d 'Refuse a signature database that unpacks to more than SIZE (bytes, or with a K, M, G or T suffix; a container counts its whole archive) [default: 2G]' -r
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from stats" -l max-db-lines -d 'Refuse a signature database of more than N lines [default: 20000000]' -r
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from stats" -l json -d 'Print one JSON object instead of text'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from stats" -s h -l help -d 'Print help'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from stats" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from add" -l algo -d 'Algorithm to hash with; repeat for more [default: sha256]' -r
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from add" -l name -d 'Signature name [default: the file\'s name]' -r
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from add" -l clamav -d 'Print ClamAV `.hdb`/`.hsb` lines (`HEX:SIZE:NAME`; md5, sha1, sha256 only)'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from import" -l algo -d 'Algorithm of the hashes [default: by length: 32 md5, 40 sha1, 64 sha256]' -r
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from import" -l name -d 'Name given to every signature (feeds repeat names; one name costs one entry)' -r
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from import" -s o -l output -d 'Write to FILE (atomically, only if the whole list is valid) instead of standard output' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from import" -l numbered -d 'Name each signature NAME.LINE (its line in the list) instead: one name per signature, 8 bytes each in memory (a stem and the line number)'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from import" -s h -l help -d 'Print help'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from import" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from diff" -l max-db-size -d 'Refuse a signature database that unpacks to more than SIZE (bytes, or with a K, M, G or T suffix; a container counts its whole archive) [default: 2G]' -r
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from diff" -l max-db-lines -d 'Refuse a signature database of more than N lines [default: 20000000]' -r
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from diff" -l list -d 'List every entry added or removed'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from diff" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from diff" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from compile" -s o -l output -d 'The index to write (by convention `.vidx`); replaced atomically' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from compile" -l max-db-size -d 'Refuse a signature database that unpacks to more than SIZE (bytes, or with a K, M, G or T suffix; a container counts its whole archive) [default: 2G]' -r
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from compile" -l max-db-lines -d 'Refuse a signature database of more than N lines [default: 20000000]' -r
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from compile" -s h -l help -d 'Print help'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from compile" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from help" -f -a "check" -d 'Load databases and report every fault as FILE:LINE: REASON (exit 1 if any)'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from help" -f -a "stats" -d 'Count the signatures of databases: per algorithm, sized and any-size, distinct names, and the memory the loaded set takes'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from help" -f -a "add" -d 'Print signature lines (`ALGO:HEX:SIZE:NAME`) for sample files, like `sigtool --sha256`'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from help" -f -a "import" -d 'Turn a plain list of hashes (one per line, `#` comments) into `.vsig` lines'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from help" -f -a "diff" -d 'What an update changes: signatures added and removed between two sets'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from help" -f -a "compile" -d 'Compile databases into one binary index that `-d` maps in place'
complete -c vigil -n "__fish_vigil_using_subcommand sigs; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vigil -n "__fish_vigil_using_subcommand cache; and not __fish_seen_subcommand_from stats prune clear help" -l file -d 'The cache file [default: /var/lib/vigil/cache.redb]' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand cache; and not __fish_seen_subcommand_from stats prune clear help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vigil -n "__fish_vigil_using_subcommand cache; and not __fish_seen_subcommand_from stats prune clear help" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand cache; and not __fish_seen_subcommand_from stats prune clear help" -f -a "stats" -d 'Print the cache\'s size, entries, and how old they are'
complete -c vigil -n "__fish_vigil_using_subcommand cache; and not __fish_seen_subcommand_from stats prune clear help" -f -a "prune" -d 'Remove the entries of files not seen for a while (and damaged ones)'
complete -c vigil -n "__fish_vigil_using_subcommand cache; and not __fish_seen_subcommand_from stats prune clear help" -f -a "clear" -d 'Remove every entry: the next scan reads every file again'
complete -c vigil -n "__fish_vigil_using_subcommand cache; and not __fish_seen_subcommand_from stats prune clear help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vigil -n "__fish_vigil_using_subcommand cache; and __fish_seen_subcommand_from stats" -l file -d 'The cache file [default: /var/lib/vigil/cache.redb]' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand cache; and __fish_seen_subcommand_from stats" -l json -d 'Print one JSON object'
complete -c vigil -n "__fish_vigil_using_subcommand cache; and __fish_seen_subcommand_from stats" -s h -l help -d 'Print help'
complete -c vigil -n "__fish_vigil_using_subcommand cache; and __fish_seen_subcommand_from stats" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand cache; and __fish_seen_subcommand_from prune" -l older-than -d 'How long an entry may go unseen, e.g. 30d, 12h [default: 30d]' -r
complete -c vigil -n "__fish_vigil_using_subcommand cache; and __fish_seen_subcommand_from prune" -l file -d 'The cache file [default: /var/lib/vigil/cache.redb]' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand cache; and __fish_seen_subcommand_from prune" -s h -l help -d 'Print help'
complete -c vigil -n "__fish_vigil_using_subcommand cache; and __fish_seen_subcommand_from prune" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand cache; and __fish_seen_subcommand_from clear" -l file -d 'The cache file [default: /var/lib/vigil/cache.redb]' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand cache; and __fish_seen_subcommand_from clear" -s h -l help -d 'Print help'
complete -c vigil -n "__fish_vigil_using_subcommand cache; and __fish_seen_subcommand_from clear" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "stats" -d 'Print the cache\'s size, entries, and how old they are'
complete -c vigil -n "__fish_vigil_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "prune" -d 'Remove the entries of files not seen for a while (and damaged ones)'
complete -c vigil -n "__fish_vigil_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "clear" -d 'Remove every entry: the next scan reads every file again'
complete -c vigil -n "__fish_vigil_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and not __fish_seen_subcommand_from ping version stats reload shutdown scan help" -l socket -d 'The daemon\'s control socket [default: /run/vigil/vigil.sock]' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and not __fish_seen_subcommand_from ping version stats reload shutdown scan help" -l tcp -d 'Reach the daemon on TCP instead (its `tcp_socket`), e.g. 127.0.0.1:3310 or [::1]:3310' -r
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and not __fish_seen_subcommand_from ping version stats reload shutdown scan help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and not __fish_seen_subcommand_from ping version stats reload shutdown scan help" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and not __fish_seen_subcommand_from ping version stats reload shutdown scan help" -f -a "ping" -d 'Check that the daemon answers (prints PONG)'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and not __fish_seen_subcommand_from ping version stats reload shutdown scan help" -f -a "version" -d 'Print the daemon\'s version, signature count and when they were loaded'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and not __fish_seen_subcommand_from ping version stats reload shutdown scan help" -f -a "stats" -d 'Print the daemon\'s statistics'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and not __fish_seen_subcommand_from ping version stats reload shutdown scan help" -f -a "reload" -d 'Reload signatures and configuration, as SIGHUP does'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and not __fish_seen_subcommand_from ping version stats reload shutdown scan help" -f -a "shutdown" -d 'Stop the daemon, as SIGTERM does'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and not __fish_seen_subcommand_from ping version stats reload shutdown scan help" -f -a "scan" -d 'Scan files and folders with the daemon\'s engine'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and not __fish_seen_subcommand_from ping version stats reload shutdown scan help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from ping" -l socket -d 'The daemon\'s control socket [default: /run/vigil/vigil.sock]' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from ping" -l tcp -d 'Reach the daemon on TCP instead (its `tcp_socket`), e.g. 127.0.0.1:3310 or [::1]:3310' -r
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from ping" -s h -l help -d 'Print help'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from ping" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from version" -l socket -d 'The daemon\'s control socket [default: /run/vigil/vigil.sock]' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from version" -l tcp -d 'Reach the daemon on TCP instead (its `tcp_socket`), e.g. 127.0.0.1:3310 or [::1]:3310' -r
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from version" -s h -l help -d 'Print help'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from version" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from stats" -l socket -d 'The daemon\'s control socket [default: /run/vigil/vigil.sock]' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from stats" -l tcp -d 'Reach the daemon on TCP instead (its `tcp_socket`), e.g. 127.0.0.1:3310 or [::1]:3310' -r
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from stats" -l prometheus -d 'Print them in Prometheus\' text format instead (the metrics the daemon writes to `metrics_file`)'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from stats" -s h -l help -d 'Print help'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from stats" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from reload" -l socket -d 'The daemon\'s control socket [default: /run/vigil/vigil.sock]' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from reload" -l tcp -d 'Reach the daemon on TCP instead (its `tcp_socket`), e.g. 127.0.0.1:3310 or [::1]:3310' -r
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from reload" -s h -l help -d 'Print help'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from reload" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from shutdown" -l socket -d 'The daemon\'s control socket [default: /run/vigil/vigil.sock]' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from shutdown" -l tcp -d 'Reach the daemon on TCP instead (its `tcp_socket`), e.g. 127.0.0.1:3310 or [::1]:3310' -r
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from shutdown" -s h -l help -d 'Print help'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from shutdown" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from scan" -l socket -d 'The daemon\'s control socket [default: /run/vigil/vigil.sock]' -r -F
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from scan" -l tcp -d 'Reach the daemon on TCP instead (its `tcp_socket`), e.g. 127.0.0.1:3310 or [::1]:3310' -r
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from scan" -l stream -d 'Send each file\'s content over the socket'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from scan" -l fdpass -d 'Pass each file\'s open descriptor to the daemon'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from scan" -l no-summary -d 'Do not print the summary at the end'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from scan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from scan" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from help" -f -a "ping" -d 'Check that the daemon answers (prints PONG)'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from help" -f -a "version" -d 'Print the daemon\'s version, signature count and when they were loaded'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from help" -f -a "stats" -d 'Print the daemon\'s statistics'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from help" -f -a "reload" -d 'Reload signatures and configuration, as SIGHUP does'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from help" -f -a "shutdown" -d 'Stop the daemon, as SIGTERM does'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from help" -f -a "scan" -d 'Scan files and folders with the daemon\'s engine'
complete -c vigil -n "__fish_vigil_using_subcommand ctl; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vigil -n "__fish_vigil_using_subcommand generate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vigil -n "__fish_vigil_using_subcommand generate" -s V -l version -d 'Print version'
complete -c vigil -n "__fish_vigil_using_subcommand help; and not __fish_seen_subcommand_from scan bench quarantine daemon sigs cache ctl generate help" -f -a "scan" -d 'Scan files and folders (recursively) against hash signatures'
complete -c vigil -n "__fish_vigil_using_subcommand help; and not __fish_seen_subcommand_from scan bench quarantine daemon sigs cache ctl generate help" -f -a "bench" -d 'Measure scan throughput at 1, 2, 4, ... workers beside the machine\'s limits (reading without hashing; hashing on one core)'
complete -c vigil -n "__fish_vigil_using_subcommand help; and not __fish_seen_subcommand_from scan bench quarantine daemon sigs cache ctl generate help" -f -a "quarantine" -d 'List, show, restore, delete and repair quarantined files (`scan --move`)'
complete -c vigil -n "__fish_vigil_using_subcommand help; and not __fish_seen_subcommand_from scan bench quarantine daemon sigs cache ctl generate help" -f -a "daemon" -d 'Watch folders and scan what changes, as a service (in the foreground)'
complete -c vigil -n "__fish_vigil_using_subcommand help; and not __fish_seen_subcommand_from scan bench quarantine daemon sigs cache ctl generate help" -f -a "sigs" -d 'Check, count, write and compile signature databases'
complete -c vigil -n "__fish_vigil_using_subcommand help; and not __fish_seen_subcommand_from scan bench quarantine daemon sigs cache ctl generate help" -f -a "cache" -d 'Show, prune or clear a verdict cache (`scan --cache`, the daemon\'s `state_dir/cache.redb`)'
complete -c vigil -n "__fish_vigil_using_subcommand help; and not __fish_seen_subcommand_from scan bench quarantine daemon sigs cache ctl generate help" -f -a "ctl" -d 'Talk to a running `vigil daemon` through its control socket'
complete -c vigil -n "__fish_vigil_using_subcommand help; and not __fish_seen_subcommand_from scan bench quarantine daemon sigs cache ctl generate help" -f -a "generate" -d 'Write the man pages or the shell completions (bash, zsh, fish) into DIR, generated from these definitions (for packagers)'
complete -c vigil -n "__fish_vigil_using_subcommand help; and not __fish_seen_subcommand_from scan bench quarantine daemon sigs cache ctl generate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vigil -n "__fish_vigil_using_subcommand help; and __fish_seen_subcommand_from quarantine" -f -a "list" -d 'List the entries, and anything an interrupted move, restore or delete left'
complete -c vigil -n "__fish_vigil_using_subcommand help; and __fish_seen_subcommand_from quarantine" -f -a "show" -d 'Show one entry\'s record'
complete -c vigil -n "__fish_vigil_using_subcommand help; and __fish_seen_subcommand_from quarantine" -f -a "restore" -d 'Put a file back with its content, mode, owner and times, and drop the entry'
complete -c vigil -n "__fish_vigil_using_subcommand help; and __fish_seen_subcommand_from quarantine" -f -a "delete" -d 'Delete an entry for good'
complete -c vigil -n "__fish_vigil_using_subcommand help; and __fish_seen_subcommand_from quarantine" -f -a "repair" -d 'Finish or undo what an interrupted move, restore or delete left behind'
complete -c vigil -n "__fish_vigil_using_subcommand help; and __fish_seen_subcommand_from sigs" -f -a "check" -d 'Load databases and report every fault as FILE:LINE: REASON (exit 1 if any)'
complete -c vigil -n "__fish_vigil_using_subcommand help; and __fish_seen_subcommand_from sigs" -f -a "stats" -d 'Count the signatures of databases: per algorithm, sized and any-size, distinct names, and the memory the loaded set takes'
complete -c vigil -n "__fish_vigil_using_subcommand help; and __fish_seen_subcommand_from sigs" -f -a "add" -d 'Print signature lines (`ALGO:HEX:SIZE:NAME`) for sample files, like `sigtool --sha256`'
complete -c vigil -n "__fish_vigil_using_subcommand help; and __fish_seen_subcommand_from sigs" -f -a "import" -d 'Turn a plain list of hashes (one per line, `#` comments) into `.vsig` lines'
complete -c vigil -n "__fish_vigil_using_subcommand help; and __fish_seen_subcommand_from sigs" -f -a "diff" -d 'What an update changes: signatures added and removed between two sets'
complete -c vigil -n "__fish_vigil_using_subcommand help; and __fish_seen_subcommand_from sigs" -f -a "compile" -d 'Compile databases into one binary index that `-d` maps in place'
complete -c vigil -n "__fish_vigil_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "stats" -d 'Print the cache\'s size, entries, and how old they are'
complete -c vigil -n "__fish_vigil_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "prune" -d 'Remove the entries of files not seen for a while (and damaged ones)'
complete -c vigil -n "__fish_vigil_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "clear" -d 'Remove every entry: the next scan reads every file again'
complete -c vigil -n "__fish_vigil_using_subcommand help; and __fish_seen_subcommand_from ctl" -f -a "ping" -d 'Check that the daemon answers (prints PONG)'
complete -c vigil -n "__fish_vigil_using_subcommand help; and __fish_seen_subcommand_from ctl" -f -a "version" -d 'Print the daemon\'s version, signature count and when they were loaded'
complete -c vigil -n "__fish_vigil_using_subcommand help; and __fish_seen_subcommand_from ctl" -f -a "stats" -d 'Print the daemon\'s statistics'
complete -c vigil -n "__fish_vigil_using_subcommand help; and __fish_seen_subcommand_from ctl" -f -a "reload" -d 'Reload signatures and configuration, as SIGHUP does'
complete -c vigil -n "__fish_vigil_using_subcommand help; and __fish_seen_subcommand_from ctl" -f -a "shutdown" -d 'Stop the daemon, as SIGTERM does'
complete -c vigil -n "__fish_vigil_using_subcommand help; and __fish_seen_subcommand_from ctl" -f -a "scan" -d 'Scan files and folders with the daemon\'s engine'

# Cache generations and seeding on a btrfs state directory: subvolumes, snapshots, reflinks.

test_btrfs_strategies() {
    local mnt=$IT_DIR/btrfs img=$IT_DIR/btrfs.img state first second out ssh strategy root
    umount "$mnt" 2>/dev/null || true
    rm -rf "$mnt" "$img"
    mkdir -p "$mnt"
    truncate -s 2G "$img"
    mkfs.btrfs -q -f "$img" >/dev/null
    mount -o loop "$img" "$mnt"
    state=$mnt/state
    it_cache_images

    first=$("$SLIPWAY" --state-dir "$state" cache build --image tiny:1 --image multi:1 2>/dev/null)
    root=$state/cache/generations/$first/data-root
    # The generation is a subvolume, frozen read-only by the file system: even host root
    # cannot change it.
    assert_eq "$(stat -c %i "$root")" 256 "generation is a subvolume"
    assert_eq "$(btrfs property get -ts "$root" ro)" "ro=true" "generation frozen read-only"
    if touch "$root/x" 2>/dev/null; then fail "wrote into a frozen generation"; fi

    for strategy in btrfs-snapshot reflink layer-link copy; do
        out=$("$SLIPWAY" --state-dir "$state" run --seed-strategy "$strategy" --json 2>/dev/null)
        ssh=$(jq -r .ssh_command <<<"$out")
        it_log "$strategy: seeded in $(jq -r '.seed_seconds * 1000' <<<"$out") ms"
        assert_eq "$($ssh "docker run --rm multi:1 /bin/busybox sh -c 'cat /one; test ! -e /two && echo gone'")" "one
gone" "$strategy: seeded image runs"
        $ssh 'mkdir -p b && printf "FROM multi:1\nRUN [\"/bin/busybox\",\"rm\",\"/one\"]\n" > b/Dockerfile && docker build -q -t d:1 b' >/dev/null
        "$SLIPWAY" --state-dir "$state" rm "$(jq -r .id <<<"$out")" >/dev/null
        assert_no_leaks "$state"
    done
    # Root of a build's namespace makes btrfs subvolumes, one inside another, in its data root
    # (the kernel deletes only empty ones): before, slipway rm failed with "Directory not
    # empty" and the directory and its id range stayed.
    out=$("$SLIPWAY" --state-dir "$state" run --json 2>/dev/null)
    ssh=$(jq -r .ssh_command <<<"$out")
    assert_eq "$($ssh 'docker run --rm --privileged -v /:/host multi:1 /bin/busybox chroot /host perl -e '"'"'sub mk { sysopen(my $h, $_[0], 0) or die "$_[0]: $!\n"; ioctl($h, 0x5000940e, pack("q Z4088", 0, $_[1])) or die "subvolume: $!\n" } mk("/var/lib/docker", "a"); mk("/var/lib/docker/a", "b"); open(my $f, ">", "/var/lib/docker/a/b/f") or die; print "nested subvolumes\n"'"'"'')" \
        "nested subvolumes" "a build's nested subvolumes"
    "$SLIPWAY" --state-dir "$state" rm "$(jq -r .id <<<"$out")" >/dev/null
    assert_no_leaks "$state"
    # A disk limit on btrfs: the agent's ext4 image lives in the btrfs state directory (no
    # copy-on-write for it); layer-link and copy seed into it, the cloning strategies cannot.
    for strategy in layer-link copy; do
        out=$("$SLIPWAY" --state-dir "$state" run --seed-strategy "$strategy" --disk-limit 1G --json 2>/dev/null)
        ssh=$(jq -r .ssh_command <<<"$out")
        it_log "$strategy with --disk-limit 1G: disk in $(jq -r '.disk_seconds * 1000' <<<"$out") ms, seeded in $(jq -r '.seed_seconds * 1000' <<<"$out") ms"
        assert_contains "$(lsattr "$state/agents/$(jq -r .id <<<"$out")/disk.img" | awk '{print $1}')" C \
            "$strategy: the disk image is not copy-on-write"
        assert_eq "$($ssh "docker run --rm multi:1 /bin/busybox sh -c 'cat /one; test ! -e /two && echo gone'")" "one
gone" "$strategy with a disk limit: seeded image runs"
        assert_eq "$($ssh df --output=size -BM /var/lib/docker | tail -1 | tr -d ' ')" "$($ssh df --output=size -BM /home/jenkins | tail -1 | tr -d ' ')" \
            "data root and home on the same limited file system"
        "$SLIPWAY" --state-dir "$state" rm "$(jq -r .id <<<"$out")" >/dev/null
        assert_no_leaks "$state"
        for _ in $(seq 50); do losetup -a | grep -qF "$state/" || break; sleep 0.1; done
        if losetup -a | grep -F "$state/"; then fail "loop devices left"; fi
    done
    out=$("$SLIPWAY" --state-dir "$state" run --seed-strategy btrfs-snapshot --disk-limit 1G 2>&1) &&
        fail "btrfs-snapshot with a disk limit was accepted"
    assert_contains "$out" "seed-strategy btrfs-snapshot cannot seed a data root inside a disk limit"
    assert_contains "$("$SLIPWAY" --state-dir "$state" cache verify)" "$first unchanged"

    # gc deletes a superseded generation's subvolume.
    second=$("$SLIPWAY" --state-dir "$state" cache build --image tiny:1 2>/dev/null)
    assert_eq "$("$SLIPWAY" --state-dir "$state" cache gc)" "removed generation $first"
    [ ! -e "$state/cache/generations/$first" ] || fail "generation $first still there"
    assert_eq "$(btrfs subvolume list "$mnt" | wc -l)" 1 "only the current generation's subvolume left"
    umount "$mnt"
    rm -rf "$mnt" "$img"
}

it_case "btrfs: generation subvolume frozen, snapshot/reflink/layer-link/copy seeding, disk limit, gc" test_btrfs_strategies

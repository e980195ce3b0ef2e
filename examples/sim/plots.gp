# SPDX-License-Identifier: MIT
# The simulator's plots (run from the repository root by examples/sim/make_results.sh):
# reads docs/results/sim-*.csv, writes docs/img/sim-*.svg.
set terminal svg size 720,420 dynamic font "sans,12"
set datafile separator ","
set termoption noenhanced
set key top left
set grid ytics

# Per-CPU utilisation at 4 CPUs: the paper's table.
set output "docs/img/sim-paper-util.svg"
set title "4 CPUs, 4 x 940 Mb/s: per-CPU utilisation"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "utilisation (%)"
set xlabel "CPU"
set yrange [0:105]
plot "< grep '^4,all_on_first,' docs/results/sim-paper-util.csv" using ($4*100):xtic(3) title "all_on_first (1 tasklet pair)", \
     "< grep '^4,hysteresis_two_level,' docs/results/sim-paper-util.csv" using ($4*100) title "hysteresis_balanced, two levels (4 pairs)"

# Delivered throughput at 4, 8 and 16 CPUs.
set output "docs/img/sim-paper-throughput.svg"
set title "One 940 Mb/s source per CPU: delivered throughput"
set style data linespoints
set xlabel "CPUs"
set ylabel "Gb/s"
set yrange [0:*]
set logscale x 2
set xtics (4, 8, 16)
plot "< grep ',all_on_first,' docs/results/sim-paper.csv" using 1:4 title "all_on_first" pt 7, \
     "< grep ',hysteresis_two_level,' docs/results/sim-paper.csv" using 1:4 title "hysteresis, two levels" pt 5, \
     "< grep ',hysteresis,' docs/results/sim-paper.csv" using 1:4 title "hysteresis, one worker at a time" pt 9, \
     "< grep ',all_on_first,' docs/results/sim-paper.csv" using 1:3 title "offered" dt 2 lc rgb "gray" pt -1
unset logscale x
set xtics autofreq

# Load sweeps: delivered throughput and total CPU time against offered load.
do for [n in "4 16"] {
    set output sprintf("docs/img/sim-sweep-%s.svg", n)
    set multiplot layout 1,2 title sprintf("%s CPUs, %s sources: offered load sweep", n, n)
    set title "delivered"
    set xlabel "offered (Gb/s)"
    set ylabel "Gb/s"
    set key top left
    plot for [p in "all_on_first round_robin hysteresis_two_level hysteresis"] \
        sprintf("< grep '^%s,%s,' docs/results/sim-sweep.csv", n, p) using 4:5 title p
    set title "CPU time used"
    set ylabel "CPUs busy (sum of utilisation)"
    plot for [p in "all_on_first round_robin hysteresis_two_level hysteresis"] \
        sprintf("< grep '^%s,%s,' docs/results/sim-sweep.csv", n, p) using 4:6 title p
    unset multiplot
}

# Timelines: offered load, handled load and the active workers the dispatcher chose.
do for [t in "ramp square"] {
    set output sprintf("docs/img/sim-timeline-%s.svg", t)
    set title sprintf("hysteresis_balanced over time (%s load)", t)
    set xlabel "time (ms)"
    set ylabel "Gb/s"
    set y2label "active workers"
    set y2tics
    set ytics nomirror
    set key top left
    plot sprintf("docs/results/sim-timeline-%s.csv", t) using 1:2 every ::1 title "offered" with lines lw 2, \
         "" using 1:3 every ::1 title "handled" with lines, \
         "" using 1:5 every ::1 axes x1y2 title "active workers" with steps lw 2
    unset y2tics
    unset y2label
    set ytics mirror
}

# bench/soak/plot.gp — draws a soak's samples (bench/soak.sh): RSS and open descriptors
# over time, the event-loop lag, and the connections held. gnuplot -e "csv='…'; png='…'".
set datafile separator ','
set terminal pngcairo size 1200,900 noenhanced
set output png
set multiplot layout 3,1 title 'wsio-server soak: '.csv
set key outside right
set xlabel 'seconds'
set ylabel 'MiB'
set y2label 'descriptors'
set y2tics
set ytics nomirror
plot csv using 1:($3/1024) skip 1 with lines title 'RSS (MiB)', \
     csv using 1:4 skip 1 axes x1y2 with lines title 'open fds'
unset y2label
unset y2tics
set ytics mirror
set ylabel 'ms'
set yrange [0:*]
plot csv using 1:5 skip 1 with steps title 'loop lag, worst bucket bound in the second (ms)'
set autoscale y
set ylabel 'count'
plot csv using 1:6 skip 1 with lines title 'WebSocket conns', \
     csv using 1:7 skip 1 with lines title 'polling conns', \
     csv using 1:8 skip 1 with lines title 'Socket.IO sockets'
unset multiplot
